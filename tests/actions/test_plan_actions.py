import asyncio
import json
from datetime import timedelta
from decimal import Decimal

from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.plan import ActionAnswerOffer, ActionPreparePlan, ActionProposePlan, ValidatePlanForm
from bot.ledger.models import Document, Installment, PaymentLink, PaymentPlan
from bot.negotiation.agreements import parse_plan_terms
from tests.actions.conftest import ANA, make_tracker, run_action, validate
from tests.factories import local_today


def plan_slots(terms: str, down: str, first_days: int) -> dict[str, object]:
    return {"verified": True, "plan_terms": terms, "plan_down_payment": down,
            "plan_first_date": (local_today("MX") + timedelta(days=first_days)).isoformat()}


def test_plan_terms_are_read_from_what_debtors_write() -> None:
    assert parse_plan_terms("en 6 cuotas").installments == 6
    assert parse_plan_terms("6").installments == 6
    terms = parse_plan_terms("puedo pagar 800 al mes")
    assert (terms.per_installment, terms.frequency) == (Decimal("800"), "monthly")
    assert parse_plan_terms("te doy 300 por semana").frequency == "weekly"
    assert parse_plan_terms("no sé") is None


def test_the_first_message_can_fill_the_terms(ledger: Session) -> None:
    _, events = run_action(ActionPreparePlan(), make_tracker(ANA, intent="offer_amount", text="puedo pagar 800 al mes"))
    assert {"event": "slot", "name": "plan_terms", "value": "puedo pagar 800 al mes", "timestamp": None} in events


def test_validation_hints_and_values(ledger: Session) -> None:
    dispatcher = CollectingDispatcher()
    form = ValidatePlanForm()
    tracker = make_tracker(ANA, intent="inform", text="x", slots={"verified": True})
    assert asyncio.run(form.validate_plan_terms("no sé", dispatcher, tracker, {})) == {"plan_terms": None}
    assert asyncio.run(form.validate_plan_down_payment("$1,500", dispatcher, tracker, {})) == {
        "plan_down_payment": "1500"}
    validate("2211")
    yesterday = asyncio.run(form.validate_plan_first_date("ayer", dispatcher, tracker, {}))
    assert yesterday == {"plan_first_date": None}
    assert [m["response"] for m in dispatcher.messages] == ["utter_plan_terms_hint", "utter_plan_date_hint"]


def test_a_plan_in_policy_is_proposed_confirmed_and_stored(ledger: Session) -> None:
    validate("2211")  # 14,680.55 MXN, late stage at Banco Aurora: up to 9 installments for the bot
    slots = plan_slots("6 cuotas", "1500", 1)
    messages, events = run_action(ActionProposePlan(), make_tracker(ANA, intent="inform", slots=slots))
    assert messages[0]["response"] == "utter_plan_proposal"
    assert messages[0]["lines"].count("\n") == 6 and messages[0]["total"] == "$14,680.55"
    assert messages[0]["lines"].splitlines()[-1].endswith(": $2,196.80")
    offer = next(e["value"] for e in events if e.get("name") == "plan_offer")
    messages, _ = run_action(ActionAnswerOffer(), make_tracker(
        ANA, intent="affirm", slots={"verified": True, "pending_offer": "plan", "plan_offer": offer}))
    assert [m["response"] for m in messages] == ["utter_plan_created", "utter_plan_agreement", "utter_payment_link",
                                                 "utter_link_safety"]
    assert messages[0]["count"] == 7
    assert messages[1]["url"].startswith("https://pagos.bancoaurora.example/d/")
    plan = ledger.scalars(select(PaymentPlan)).one()
    amounts = ledger.scalars(select(Installment.amount).where(Installment.plan_id == plan.id)).all()
    assert sum(amounts) == plan.total == Decimal("14680.55")
    link = ledger.scalars(select(PaymentLink)).one()
    assert (link.purpose, link.amount, link.plan_id) == ("installment", Decimal("1500.00"), plan.id)
    assert messages[2]["amount"] == "$1,500.00" and messages[2]["url"].endswith(f"/p/{link.token}")
    assert ledger.scalars(select(Document.kind).where(Document.plan_id == plan.id)).one() == "agreement"

    # A new agreement replaces the open one.
    run_action(ActionAnswerOffer(), make_tracker(
        ANA, intent="affirm", slots={"verified": True, "pending_offer": "plan", "plan_offer": offer}))
    ledger.expire_all()
    assert sorted(p.status.value for p in ledger.scalars(select(PaymentPlan))) == ["cancelled", "pending"]
    assert [(link.plan_id == plan.id, link.status.value) for link in ledger.scalars(
        select(PaymentLink).order_by(PaymentLink.id))] == [(True, "expired"), (False, "open")]


def test_out_of_policy_gets_a_counter_offer_then_the_second_option(ledger: Session) -> None:
    validate("2211")
    messages, events = run_action(ActionProposePlan(), make_tracker(
        ANA, intent="inform", slots=plan_slots("en 20 cuotas", "1500", 1)))
    assert messages[0]["response"] == "utter_plan_counter"
    offer = next(e["value"] for e in events if e.get("name") == "plan_offer")
    assert [item["installments"] for item in json.loads(offer)] == [9, 8]
    messages, events = run_action(ActionAnswerOffer(), make_tracker(
        ANA, intent="deny", slots={"verified": True, "pending_offer": "plan", "plan_offer": offer}))
    assert messages[0]["response"] == "utter_plan_other_option"
    assert ledger.scalars(select(PaymentPlan)).all() == []


def test_slots_the_form_cleared_are_asked_not_hinted(ledger: Session) -> None:
    """"Quiero un plan" alone: action_prepare_plan cleared the three answers; the form asks the first question
    and says no hint about answers nobody gave."""
    dispatcher = CollectingDispatcher()
    form = ValidatePlanForm()
    tracker = make_tracker(ANA, intent="request_payment_plan", text="quiero un plan", slots={"verified": True})
    assert asyncio.run(form.validate_plan_terms(None, dispatcher, tracker, {})) == {"plan_terms": None}
    assert asyncio.run(form.validate_plan_down_payment(None, dispatcher, tracker, {})) == {"plan_down_payment": None}
    assert asyncio.run(form.validate_plan_first_date(None, dispatcher, tracker, {})) == {"plan_first_date": None}
    assert dispatcher.messages == []
