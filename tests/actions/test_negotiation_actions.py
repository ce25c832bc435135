from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.identity import ActionRespondVerified
from bot.ledger.models import Account, AgreementStatus, Conversation, ConversationMode, PaymentLink, PromiseToPay
from tests.actions.conftest import ANA, CAMILA, make_tracker, run_action, validate
from tests.factories import local_today, spanish_weekday_date
from tests.fakes.stripe_api import FakeStripe


def ask(sender: str, intent: str, text: str, **slots: object) -> tuple[list[dict], list[dict]]:
    return run_action(ActionRespondVerified(), make_tracker(sender, intent=intent, text=text,
                                                            slots={"verified": True, **slots}))


def test_a_promise_is_recorded_and_confirmed_with_the_weekday(ledger: Session) -> None:
    validate("2211")
    messages, events = ask(ANA, "promise_to_pay", "te pago 2 mil pasado mañana")
    promised = local_today("MX") + timedelta(days=2)
    assert messages[0]["response"] == "utter_promise_recorded_amount"
    assert messages[0]["date"] == spanish_weekday_date(promised)
    assert messages[0]["amount"] == "$2,000.00"
    promise = ledger.scalars(select(PromiseToPay)).one()
    assert (promise.promised_date, promise.amount, promise.status) == (promised, Decimal("2000.00"),
                                                                      AgreementStatus.PENDING)
    ask(ANA, "promise_to_pay", "mejor mañana")  # a new promise replaces the open one
    ledger.expire_all()
    statuses = sorted(p.status.value for p in ledger.scalars(select(PromiseToPay)))
    assert statuses == ["cancelled", "pending"]


def test_unreadable_past_and_far_dates_get_a_question(ledger: Session) -> None:
    validate("2211")
    messages, events = ask(ANA, "promise_to_pay", "te pago cuando pueda")
    assert messages[0]["response"] == "utter_ask_promise_date"
    assert {"event": "slot", "name": "awaiting", "value": "promise_date", "timestamp": None} in events
    messages, _ = ask(ANA, "inform", "el 3 de enero de 2020", awaiting="promise_date")
    assert messages[0]["response"] == "utter_promise_date_past"
    messages, events = ask(ANA, "promise_to_pay", "te pago en dos meses el 20 de marzo")
    assert messages[0]["response"] == "utter_promise_too_far"
    assert ledger.scalars(select(PromiseToPay)).all() == []
    messages, _ = ask(ANA, "inform", "el viernes", awaiting="promise_date")
    assert messages[0]["response"] == "utter_promise_recorded_amount"  # the amount due, said back
    assert messages[0]["amount"] == "$14,680.55"


def test_settlement_offer_within_the_policy(ledger: Session) -> None:
    validate("6785 14/02/1992", sender=CAMILA)  # Finanzas del Norte, severe: up to 15% off interest and fees (bot)
    messages, events = ask(CAMILA, "ask_discount", "me hacen descuento?")
    assert [m["response"] for m in messages] == ["utter_settlement_discount", "utter_payment_link",
                                                 "utter_link_safety"]
    # 1,449,500 total; 15% of (187,500 + 12,000) = 29,925 off
    assert (messages[0]["amount"], messages[0]["total"]) == ("$1.419.575", "$1.449.500")
    link = ledger.scalars(select(PaymentLink)).one()
    assert (link.purpose, link.amount, link.currency) == ("settlement", Decimal("1419575"), "CLP")
    assert messages[1]["amount"] == "$1.419.575"
    assert messages[1]["url"] == f"https://pagar.finanzasnorte.example/p/{link.token}"
    assert messages[2]["link_prefix"] == "https://pagar.finanzasnorte.example/"
    assert {"event": "slot", "name": "pending_offer", "value": None, "timestamp": None} in events
    ask(CAMILA, "ask_discount", "y el descuento?")  # asked again: the same open link, not a second checkout
    assert len(ledger.scalars(select(PaymentLink)).all()) == 1


def test_dispute_pauses_collection_and_offers_a_human(ledger: Session) -> None:
    validate("2211")
    messages, events = ask(ANA, "dispute_debt", "esa deuda no es mía")
    assert [m["response"] for m in messages] == ["utter_dispute"]
    assert ledger.scalars(select(Account.collection_paused_reason).where(Account.external_id == "A-90001")).one() \
        == "dispute"
    messages, _ = ask(ANA, "promise_to_pay", "te pago el viernes")  # a pause never blocks the debtor's own wish
    assert messages[0]["response"] != "utter_account_under_review"
    assert len(ledger.scalars(select(PromiseToPay)).all()) == 1


def test_already_paid_without_a_payment_goes_to_a_person(ledger: Session) -> None:
    validate("2211")
    messages, _ = ask(ANA, "already_paid", "ya pagué")
    assert [m["response"] for m in messages] == ["utter_already_paid"]
    conversation = ledger.scalars(select(Conversation)).one()
    assert (conversation.mode, conversation.mode_reason) == (ConversationMode.QUEUED, "already_paid")


def test_when_no_link_can_be_made_a_person_is_offered(stripe_env: pytest.MonkeyPatch, fake_stripe: FakeStripe,
                                                      ledger: Session) -> None:
    validate("6785 14/02/1992", sender=CAMILA)
    fake_stripe.refuse_next = 10  # Stripe keeps failing, past the SDK's retries
    messages, events = ask(CAMILA, "pay_in_full", "quiero pagar todo")
    assert [m["response"] for m in messages] == ["utter_settlement_discount", "utter_payment_link_unavailable"]
    assert {"event": "slot", "name": "pending_offer", "value": "human", "timestamp": None} in events
    assert ledger.scalars(select(PaymentLink)).all() == []
