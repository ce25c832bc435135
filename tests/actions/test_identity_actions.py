import asyncio
import re
import threading
from datetime import timedelta

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from actions.common import in_thread, triggering_message, utcnow
from actions.identity import (
    ActionRespondAfterVerification,
    ActionRespondVerified,
    ValidateIdentityForm,
)
from actions.session import ActionSessionStart
from bot.common.copy import app_message
from bot.ledger.models import (
    Conversation,
    ConversationMode,
    Debtor,
    Direction,
    IdentityCheck,
    Message,
    MessageStatus,
)
from bot.messaging.conversations import get_or_create_conversation
from tests.actions.conftest import ANA, CAMILA, make_tracker, run_action, user_event, validate
from tests.factories import local_today, spanish_long_date


def form_started_by(intent: str, text: str, sender: str, answer: str) -> list[dict]:
    return [user_event(text, intent), {"event": "action", "name": "identity_form"},
            {"event": "active_loop", "name": "identity_form"}, user_event(answer, "inform"),
            {"event": "active_loop", "name": None}]


def test_validation_counts_failures_and_fills_the_slot_on_success(ledger: Session) -> None:
    messages, slots = validate("hola")
    assert slots == {"identity_answer": None, "identity_feedback": "hint"}
    messages, slots = validate("0000")
    assert slots == {"identity_answer": None, "identity_feedback": "retry:2"}
    assert messages == []  # the question comes after validation: one prompt a turn (validate_identity_form.run)
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
    validate("6785 14/02/1992", sender=CAMILA)
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
    assert [e["event"] for e in events] == ["session_started", "slot", "slot", "slot", "action"]
    assert events[1]["value"] is True and events[2]["value"] == "Ana"
    assert events[3] == {"event": "slot", "name": "voseo", "value": False, "timestamp": None}  # a Mexican number


def test_argentine_numbers_are_answered_in_voseo(ledger: Session) -> None:
    _, events = run_action(ActionSessionStart(), make_tracker("whatsapp:+5491123456789"))
    assert {"event": "slot", "name": "voseo", "value": True, "timestamp": None} in events


# --- safe by default -----------------------------------------------------------------------------------------

def inbound(session: Session, sender: str, body: str) -> int:
    conversation = get_or_create_conversation(session, sender)
    message = Message(conversation_id=conversation.id, direction=Direction.INBOUND, channel=conversation.channel,
                      body=body, status=MessageStatus.RECEIVED)
    session.add(message)
    session.commit()
    return message.id


def test_a_birth_date_alone_gets_the_hint_and_counts_nothing(ledger: Session) -> None:
    for _ in range(4):
        _, slots = validate("14/02/1992", sender=CAMILA)
        assert slots == {"identity_answer": None, "identity_feedback": "hint"}
    _, slots = validate("6785 14/02/1992", sender=CAMILA)
    assert slots["identity_answer"] == "verified"


@pytest.mark.parametrize("answer", ["2211 12/03/1985", "0000", "hola, son 1234"])
def test_the_checked_answer_is_kept_only_redacted(ledger: Session, answer: str) -> None:
    before = inbound(ledger, ANA, "cuánto debo 2211")  # not an identity answer: left as it was
    checked = inbound(ledger, ANA, answer)
    validate(answer)
    ledger.expire_all()
    body = ledger.get(Message, checked).body
    assert not re.search(r"\d", body) and "••••" in body
    assert ledger.get(Message, before).body == "cuánto debo 2211"


def unlock_for_now(session: Session) -> None:
    """Let the temporary lock run out (the actions read the real clock)."""
    session.execute(update(IdentityCheck).values(locked_until=utcnow() - timedelta(minutes=1)))
    session.commit()


def test_the_second_lock_hands_the_debtor_to_a_person(ledger: Session) -> None:
    for answer in ("0000", "1111", "2222"):
        validate(answer)
    unlock_for_now(ledger)
    for answer in ("0000", "1111"):
        validate(answer)
    _, slots = validate("2222")
    assert slots == {"identity_answer": "locked"}
    ledger.expire_all()
    conversation = ledger.scalars(select(Conversation).where(Conversation.sender_id == "whatsapp:+525512345678")).one()
    assert (conversation.mode, conversation.mode_reason) == (ConversationMode.QUEUED, "identity_review")
    messages, events = run_action(ActionRespondAfterVerification(), make_tracker(ANA, intent="inform", text="2222"))
    assert [m["response"] for m in messages] == ["utter_identity_review"]
    assert {"event": "slot", "name": "pending_offer", "value": None, "timestamp": None} in events
    # the same number on SMS, days later: still locked, and told the same
    unlock_for_now(ledger)  # time passing changes nothing: only a person lifts it
    sms = "sms:+525512345678"
    assert asyncio.run(ValidateIdentityForm().required_slots(["identity_answer"], CollectingDispatcher(),
                                                             make_tracker(sms), {})) == []
    messages, _ = run_action(ActionRespondAfterVerification(), make_tracker(sms, intent="ask_balance"))
    assert [m["response"] for m in messages] == ["utter_identity_review"]
    assert ledger.scalars(select(Conversation.mode).where(Conversation.sender_id == sms)).one() is (
        ConversationMode.QUEUED)


def test_a_lock_of_hours_is_told_in_hours(ledger: Session) -> None:
    validate("0000")
    ledger.execute(update(IdentityCheck).values(locked_until=utcnow() + timedelta(hours=5)))
    ledger.commit()
    messages, _ = run_action(ActionRespondAfterVerification(), make_tracker(ANA, intent="inform", text="0000"))
    assert [m["text"] for m in messages] == [app_message("identity_locked_hours", hours=5)]


def test_a_whatsapp_verification_does_not_open_the_demo(ledger: Session) -> None:
    validate("2211")
    _, events = run_action(ActionSessionStart(), make_tracker("demo:+525512345678"))
    assert events[1]["value"] is False
    messages, _ = run_action(ActionRespondVerified(), make_tracker("demo:+525512345678", intent="ask_balance",
                                                                   slots={"verified": True}))
    assert [m["response"] for m in messages] == ["utter_need_verification"]
    _, slots = validate("2211", sender="demo:+525512345678")  # Ana is no demo debtor: the demo cannot reach her
    assert slots["identity_answer"] is None


def test_a_demo_verification_does_not_open_whatsapp(ledger: Session) -> None:
    ledger.execute(update(Debtor).where(Debtor.external_id == "D1").values(is_demo=True))  # Ana, demo data
    ledger.commit()
    _, slots = validate("2211", sender="demo:+525512345678")
    assert slots["identity_answer"] == "verified"
    for sender in (ANA, "sms:+525512345678"):
        _, events = run_action(ActionSessionStart(), make_tracker(sender))
        assert events[1]["value"] is False


FORM_DOMAIN = {"forms": {"identity_form": {"required_slots": ["identity_answer"]}}}
REQUESTED = SlotSet("requested_slot", "identity_answer")


def run_form_validation(sender: str, answer: str | None = None, slots: dict | None = None) -> tuple[list, list]:
    """validate_identity_form as Rasa's form calls it: with the answer's slot candidate after the message, or
    with none (the form starting, or coming back after an interruption)."""
    candidate = [{"event": "slot", "name": "identity_answer", "value": answer}] if answer is not None else []
    tracker = make_tracker(sender, intent="inform", text=answer or "hola", active_loop="identity_form",
                           slots={"requested_slot": "identity_answer", **(slots or {})})
    tracker.events.extend(candidate)
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ValidateIdentityForm().run(dispatcher, tracker, FORM_DOMAIN))
    return dispatcher.messages, events


@pytest.mark.parametrize(("feedback", "response", "values"), [
    (None, "utter_identity_question", {"document": "INE o CURP (la que registraste con tu cuenta)"}),
    ("hint", "utter_identity_hint", {"document": "INE o CURP (la que registraste con tu cuenta)"}),
    ("which_document", "utter_identity_which_document", {"document": "INE o CURP (la que registraste con tu cuenta)"}),
    ("retry:2", "utter_identity_retry", {"attempts_left": 2}),
    ("retry:1", "utter_identity_retry_last", {}),
])
def test_the_form_asks_one_question_a_turn(ledger: Session, feedback: str | None, response: str,
                                           values: dict) -> None:
    messages, events = run_form_validation(ANA, slots={"identity_feedback": feedback})
    assert len(messages) == 1 and messages[0]["response"] == response
    assert {key: messages[0][key] for key in values} == values
    # the feedback is cleared once said; with none, nothing but the slot to ask is set, so that Rasa can still
    # reject the form's turn when a message answered nothing (another rule answers it)
    assert events == [REQUESTED, SlotSet("identity_feedback", None)] if feedback else [REQUESTED]


def test_each_answer_gets_one_prompt_from_the_validation_itself(ledger: Session) -> None:
    messages, events = run_form_validation(ANA, answer="0000")
    assert [message["response"] for message in messages] == ["utter_identity_retry"]
    assert messages[0]["attempts_left"] == 2
    assert events == [SlotSet("identity_answer", None), SlotSet("identity_feedback", "retry:2"), REQUESTED,
                      SlotSet("identity_feedback", None)]
    messages, events = run_form_validation(ANA, answer="2211")
    assert messages == []  # verified: no question, the form ends and the request is answered
    assert SlotSet("requested_slot", None) in events and SlotSet("verified", True) in events
    messages, events = run_form_validation(ANA)  # verified already (another session): nothing is asked
    assert (messages, events) == ([], [SlotSet("requested_slot", None)])


def test_the_document_is_named_by_the_numbers_country(ledger: Session) -> None:
    messages, _ = run_form_validation(CAMILA)
    assert messages[0]["document"] == "RUT (sin el dígito verificador)"


@pytest.mark.parametrize("question", ["¿los 4 dígitos de la INE o del CURP?", "cual documento?", "de que numero?"])
def test_asking_which_document_spends_no_attempt(ledger: Session, question: str) -> None:
    for _ in range(4):
        messages, slots = validate(question)
        assert (messages, slots) == ([], {"identity_answer": None, "identity_feedback": "which_document"})
    _, slots = validate("0000")
    assert slots["identity_feedback"] == "retry:2"  # the questions cost nothing: still the first failure


def test_actions_run_their_work_off_the_event_loop() -> None:
    """Two actions at once overlap (each waits for the other to start): blocking SQL in one never holds the
    action server's single event loop, and so every other debtor's action, hostage."""
    started = {"first": threading.Event(), "second": threading.Event()}
    loop_threads: list[int] = []

    class Probe:
        @in_thread
        def run(self, name: str, other: str) -> tuple[int, bool]:
            started[name].set()
            return threading.get_ident(), started[other].wait(timeout=10)

    async def both() -> list[tuple[int, bool]]:
        loop_threads.append(threading.get_ident())
        return list(await asyncio.gather(Probe().run("first", "second"), Probe().run("second", "first")))

    results = asyncio.run(both())
    assert all(saw_the_other for _, saw_the_other in results)
    assert all(thread != loop_threads[0] for thread, _ in results)
