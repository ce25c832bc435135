import asyncio
from datetime import timedelta

from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.common import triggering_message
from actions.identity import ActionRespondAfterVerification, ActionRespondVerified, ValidateIdentityForm
from actions.session import ActionSessionStart
from bot.storage.models import IdentityCheck
from tests.actions.conftest import ANA, CAMILA, make_tracker, run_action, user_event
from tests.factories import local_today, spanish_long_date

def validate(answer: str, sender: str = ANA) -> tuple[list[dict], dict]:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(sender, intent="inform", text=answer, active_loop="identity_form")
    slots = asyncio.run(ValidateIdentityForm().validate_identity_answer(answer, dispatcher, tracker, {}))
    return dispatcher.messages, slots


def form_started_by(intent: str, text: str, sender: str, answer: str) -> list[dict]:
    return [user_event(text, intent), {"event": "action", "name": "identity_form"},
            {"event": "active_loop", "name": "identity_form"}, user_event(answer, "inform"),
            {"event": "active_loop", "name": None}]


def test_validation_counts_failures_and_fills_the_slot_on_success(ledger: Session) -> None:
    messages, slots = validate("hola")
    assert slots == {"identity_answer": None}
    assert messages[0]["response"] == "utter_identity_hint"
    messages, slots = validate("0000")
    assert slots == {"identity_answer": None}
    assert messages[0]["response"] == "utter_identity_retry" and messages[0]["attempts_left"] == 2
    messages, slots = validate("2211")
    assert messages == []
    assert slots == {"identity_answer": "verified", "verified": True, "debtor_first_name": "Ana"}


def test_lock_ends_the_form_without_checking(ledger: Session) -> None:
    for answer in ("0000", "1111"):
        validate(answer)
    _, slots = validate("2222")
    assert slots == {"identity_answer": "locked"}
    _, slots = validate("2211")  # the right answer, too late
    assert slots == {"identity_answer": "locked"}
    tracker = make_tracker(ANA, intent="ask_balance", text="saldo")
    required = asyncio.run(ValidateIdentityForm().required_slots(["identity_answer"], CollectingDispatcher(),
                                                                 tracker, {}))
    assert required == []
    events = form_started_by("ask_balance", "cuánto debo", ANA, "2211")
    messages, events = run_action(ActionRespondAfterVerification(), make_tracker(ANA, events=events[:-1],
                                                                                 intent="inform", text="2211"))
    assert [m["response"] for m in messages] == ["utter_identity_locked"]
    assert messages[0]["minutes"] == 30
    assert {"event": "slot", "name": "pending_offer", "value": "human", "timestamp": None} in events
    assert ledger.scalars(select(IdentityCheck.locked_until)).one() is not None


def test_after_verification_the_original_question_is_answered_in_mexican_format(ledger: Session) -> None:
    validate("2211")
    history = form_started_by("ask_balance", "cuánto debo", ANA, "2211")
    assert triggering_message(make_tracker(ANA, events=history), "identity_form") == {
        "intent": "ask_balance", "text": "cuánto debo"}
    messages, events = run_action(ActionRespondAfterVerification(), make_tracker(ANA, events=history))
    assert [m["response"] for m in messages] == [
        "utter_balance_intro", "utter_account_balance_overdue", "utter_balance_follow_up"]
    account = messages[1]
    due = local_today("MX") - timedelta(days=45)
    assert {key: account[key] for key in ("creditor", "product", "account_ref", "principal", "interest", "fees",
                                          "total", "due_date", "days_past_due")} == {
        "creditor": "Banco Aurora", "product": "Tarjeta de crédito", "account_ref": "0001",
        "principal": "$12,500.00", "interest": "$1,830.55", "fees": "$350.00", "total": "$14,680.55",
        "due_date": spanish_long_date(due), "days_past_due": "45"}
    assert messages[0]["first_name"] == "Ana"
    assert {"event": "slot", "name": "verified", "value": True, "timestamp": None} in events


def test_chilean_pesos_have_no_decimals(ledger: Session) -> None:
    validate("14/02/1992", sender=CAMILA)
    messages, _ = run_action(ActionRespondVerified(), make_tracker(CAMILA, intent="ask_balance", text="saldo",
                                                                   slots={"verified": True}))
    account = messages[1]
    assert (account["principal"], account["interest"], account["fees"], account["total"]) == (
        "$1.250.000", "$187.500", "$12.000", "$1.449.500")
    assert account["days_past_due"] == "149"


def test_greeting_after_verification_uses_the_first_name(ledger: Session) -> None:
    validate("2211")
    history = form_started_by("greet", "hola", ANA, "2211")
    messages, _ = run_action(ActionRespondAfterVerification(), make_tracker(ANA, events=history))
    assert messages == [{"response": "utter_greet_verified", "first_name": "Ana", "text": None, "buttons": [],
                         "elements": [], "custom": {}, "template": "utter_greet_verified", "image": None,
                         "attachment": None}]


def test_verified_request_without_a_valid_verification_restarts_the_form(ledger: Session) -> None:
    messages, events = run_action(ActionRespondVerified(), make_tracker(ANA, intent="ask_balance",
                                                                        slots={"verified": True}))
    assert [m["response"] for m in messages] == ["utter_need_verification"]
    assert {"event": "followup", "name": "identity_form", "timestamp": None} in events


def test_session_start_restores_verification_from_the_database(ledger: Session) -> None:
    _, events = run_action(ActionSessionStart(), make_tracker(ANA))
    assert events[1] == {"event": "slot", "name": "verified", "value": False, "timestamp": None}
    validate("2211")
    _, events = run_action(ActionSessionStart(), make_tracker("sms:+525512345678"))  # same number, other channel
    assert [e["event"] for e in events] == ["session_started", "slot", "slot", "action"]
    assert events[1]["value"] is True and events[2]["value"] == "Ana"
