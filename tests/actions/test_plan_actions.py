"""The plan conversation at the action level: whole messages, only the asked piece complained about, limits
explained, a "no" moving toward the debtor, leaving and coming back (real SQLite ledger, trackers by hand)."""
import json
import re
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.identity import ActionRespondVerified
from actions.plan import ActionAnswerOffer
from bot.ledger.models import Document, Installment, PaymentLink, PaymentPlan
from bot.negotiation.agreements import proposal_from_json
from tests.actions.conftest import ANA, CAMILA, make_tracker, run_action, validate
from tests.factories import local_today


def say(text: str, intent: str, slots: dict[str, object] | None = None,
        sender: str = ANA) -> tuple[list[dict], dict[str, object]]:
    """One verified message through action_respond_verified; returns (messages, the slots after it)."""
    before = {"verified": True, **(slots or {})}
    messages, events = run_action(ActionRespondVerified(), make_tracker(sender, intent=intent, text=text,
                                                                       slots=before))
    return messages, {**before, **{e["name"]: e["value"] for e in events if e.get("event") == "slot"}}


def answer(intent: str, slots: dict[str, object], text: str = "") -> tuple[list[dict], dict[str, object]]:
    messages, events = run_action(ActionAnswerOffer(), make_tracker(ANA, intent=intent, text=text, slots=slots))
    return messages, {**slots, **{e["name"]: e["value"] for e in events if e.get("event") == "slot"}}


def offered(slots: dict[str, object]):
    return proposal_from_json(json.loads(str(slots["plan_offer"]))[0])


def test_one_message_fills_the_plan_and_only_the_missing_piece_is_asked(ledger: Session) -> None:
    validate("2211")  # Ana: 14,680.55 MXN, late stage at Banco Aurora
    messages, slots = say("5 mil de enganche y lo demás en 6 meses, pagando cada quincena", "offer_amount")
    assert [m["response"] for m in messages] == ["utter_plan_understood", "utter_ask_plan_first_date"]
    assert messages[0]["summary"] == "pago inicial de $5,000.00 y el resto en 12 cuotas quincenales"
    assert slots["awaiting"] == "plan_details"


def test_quiero_un_plan_alone_gets_one_question_and_no_hints(ledger: Session) -> None:
    validate("2211")
    messages, slots = say("quiero un plan de pago", "request_payment_plan")
    assert [m["response"] for m in messages] == ["utter_ask_plan_terms"]
    messages, slots = say("no sé", "inform", slots)  # only the piece just asked is complained about
    assert [m["response"] for m in messages] == ["utter_plan_terms_hint"]
    assert messages[0]["example"] == "2,500"  # a round sixth of this balance, not a fixed "1500"


def test_a_plan_in_policy_is_proposed_confirmed_and_stored(ledger: Session) -> None:
    validate("2211")
    _, slots = say("6 cuotas", "request_payment_plan")
    _, slots = say("1500", "inform", slots)
    messages, slots = say("mañana", "inform", slots)
    assert messages[0]["response"] == "utter_plan_proposal"
    assert messages[0]["lines"].count("\n") == 6 and messages[0]["total"] == "$14,680.55"
    messages, after = answer("affirm", slots)
    assert [m["response"] for m in messages] == ["utter_plan_created", "utter_plan_agreement", "utter_payment_link",
                                                 "utter_link_safety"]
    assert messages[0]["count"] == 7 and after["plan_request"] is None
    plan = ledger.scalars(select(PaymentPlan)).one()
    amounts = ledger.scalars(select(Installment.amount).where(Installment.plan_id == plan.id)).all()
    assert sum(amounts) == plan.total == Decimal("14680.55")
    link = ledger.scalars(select(PaymentLink)).one()
    assert (link.purpose, link.amount, link.plan_id) == ("installment", Decimal("1500.00"), plan.id)
    assert ledger.scalars(select(Document.kind).where(Document.plan_id == plan.id)).one() == "agreement"


def test_a_counter_offer_names_the_limit_and_a_no_moves_toward_the_debtor(ledger: Session) -> None:
    validate("2211")  # the bot may offer up to 9 installments here
    messages, slots = say("1500 de enganche y el resto en 20 cuotas empezando mañana", "offer_amount")
    counter = messages[-1]
    assert counter["response"] == "utter_plan_counter"
    assert counter["limits"] == "Puedo ofrecerte máximo 9 cuotas."
    first = offered(slots)
    assert (first.installments, first.down_payment) == (9, Decimal("1500"))
    assert first.first_date == local_today("MX") + timedelta(days=1)  # kept what was asked
    messages, slots = answer("deny", slots, "no me sirve")
    assert messages[0]["response"] == "utter_plan_concession_later_start"  # 9 is the most: a later start instead
    second = offered(slots)
    assert second.installments == 9 and second.first_date > first.first_date
    assert ledger.scalars(select(PaymentPlan)).all() == []


def test_new_terms_in_a_no_change_the_plan(ledger: Session) -> None:
    validate("2211")
    _, slots = say("2000 de enganche, 4 cuotas, empiezo mañana", "offer_amount")
    assert offered(slots).installments == 4
    messages, slots = answer("deny", slots, "no, mejor en 8 cuotas")
    assert messages[-1]["response"] == "utter_plan_proposal" and offered(slots).installments == 8


def test_leaving_and_coming_back_keeps_what_was_said(ledger: Session) -> None:
    validate("2211")
    _, slots = say("quiero pagar en 6 cuotas", "request_payment_plan")
    messages, slots = say("cuánto debo?", "ask_balance", slots)
    assert messages[0]["response"] == "utter_balance_intro" and slots["awaiting"] is None
    messages, slots = say("bueno, el plan", "request_payment_plan", slots)
    assert [m["response"] for m in messages] == ["utter_plan_kept", "utter_plan_down_payment_question"]
    assert "6 cuotas" in messages[0]["summary"]


def test_example_amounts_fit_the_country(ledger: Session) -> None:
    validate("6785 14/02/1992", CAMILA)  # Camila: CLP at Finanzas del Norte
    _, slots = say("quiero un plan", "request_payment_plan", sender=CAMILA)
    messages, _ = say("mmm no sé", "inform", slots, sender=CAMILA)
    assert messages[0]["response"] == "utter_plan_terms_hint"
    assert re.fullmatch(r"\d{1,3}(\.000)+", messages[0]["example"]), messages[0]  # "250.000", never "1500"


def test_words_that_change_nothing_in_the_plan_on_the_table_ask_to_rephrase(ledger: Session) -> None:
    validate("2211")
    _, slots = say("2000 de enganche, 4 cuotas, empiezo mañana", "offer_amount")
    messages, after = say("mmm ok", "inform", slots)
    assert [m["response"] for m in messages] == ["utter_ask_rephrase"]
    assert after["plan_offer"] == slots["plan_offer"]  # still on the table


def test_a_no_to_the_down_payment_question_is_no_down_payment(ledger: Session) -> None:
    validate("2211")
    _, slots = say("quiero pagar en 4 cuotas", "request_payment_plan")
    messages, after = answer("deny", slots, "no")
    assert [m["response"] for m in messages] == ["utter_ask_plan_first_date"]
    assert json.loads(str(after["plan_request"]))["request"]["down_payment"] == "0"
