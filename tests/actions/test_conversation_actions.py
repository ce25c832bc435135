from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.conversation import (
    ActionCancelRequest,
    ActionConfirmOptOut,
    ActionFallback,
    ActionHandoff,
    ActionRespondUpset,
    ActionWrongPerson,
)
from actions.plan import ActionAnswerOffer
from bot.ledger.models import Conversation, ConversationMode, Phone, utcnow
from bot.messaging.contact import is_opted_out
from bot.messaging.conversations import get_or_create_conversation, handoff_eta
from tests.actions.conftest import ANA, make_tracker, run_action, user_event

PENDING_HUMAN = {"event": "slot", "name": "pending_offer", "value": "human", "timestamp": None}


def test_two_stage_fallback_rephrase_then_offer_a_human(ledger: Session) -> None:
    first = make_tracker(ANA, intent="nlu_fallback", text="asdf", events=[user_event("hola", "greet")])
    messages, events = run_action(ActionFallback(), first)
    assert [m["response"] for m in messages] == ["utter_ask_rephrase"] and events == []
    second = make_tracker(ANA, intent="nlu_fallback", text="qwer", events=[user_event("asdf", "nlu_fallback")])
    messages, events = run_action(ActionFallback(), second)
    assert [m["response"] for m in messages] == ["utter_offer_human"]
    assert events == [PENDING_HUMAN, {"event": "slot", "name": "handoff_reason", "value": "repeated_fallback",
                                      "timestamp": None}]  # accepted, the hand-off says why
    # a message understood in between starts the count again
    third = make_tracker(ANA, intent="nlu_fallback", text="zxcv",
                         events=[user_event("asdf", "nlu_fallback"), user_event("gracias", "thank_you")])
    assert run_action(ActionFallback(), third)[0][0]["response"] == "utter_ask_rephrase"


def test_handoff_queues_the_conversation(ledger: Session) -> None:
    messages, _ = run_action(ActionHandoff(), make_tracker(ANA, intent="request_agent"))
    assert [(m["response"], m["when"]) for m in messages] == [("utter_handoff", handoff_eta("MX", utcnow()))]
    conversation = ledger.scalars(select(Conversation)).one()
    assert conversation.sender_id == "whatsapp:+525512345678"
    assert (conversation.mode, conversation.mode_reason) == (ConversationMode.QUEUED, "debtor_request")
    run_action(ActionAnswerOffer(), make_tracker(ANA, intent="affirm", slots={"pending_offer": "human"}))
    # already queued: stays as it was
    ledger.expire_all()
    assert ledger.scalars(select(Conversation.mode_reason)).one() == "debtor_request"


def stop_request(sender: str = ANA, pending: str | None = None) -> list[str]:
    messages, _ = run_action(ActionConfirmOptOut(), make_tracker(sender, intent="stop_contact", text="no me escriban",
                                                                  slots={"pending_offer": pending}))
    return [m["response"] for m in messages]


def test_a_request_to_stop_is_confirmed_once_before_it_is_done(ledger: Session) -> None:
    asked = make_tracker(ANA, intent="stop_contact", text="no me escriban")
    messages, events = run_action(ActionConfirmOptOut(), asked)
    assert [m["response"] for m in messages] == ["utter_confirm_opt_out"]
    assert {"event": "slot", "name": "pending_offer", "value": "opt_out", "timestamp": None} in events
    assert not is_opted_out(ledger, "+525512345678")
    stop_offered = {"pending_offer": "opt_out"}
    messages, _ = run_action(ActionAnswerOffer(), make_tracker(ANA, intent="deny", slots=stop_offered))
    assert [m["response"] for m in messages] == ["utter_opt_out_kept"]
    assert not is_opted_out(ledger, "+525512345678")
    messages, _ = run_action(ActionAnswerOffer(), make_tracker(ANA, intent="affirm", slots=stop_offered))
    assert [m["response"] for m in messages] == ["utter_opt_out_confirmed"]
    assert is_opted_out(ledger, "+525512345678")


def test_asking_twice_in_a_row_is_the_confirmation(ledger: Session) -> None:
    assert stop_request(pending="opt_out") == ["utter_opt_out_confirmed"]
    assert is_opted_out(ledger, "+525512345678")


def test_cancel_inside_a_plan_drops_the_plan_and_elsewhere_asks(ledger: Session) -> None:
    messages, events = run_action(ActionCancelRequest(), make_tracker(
        ANA, intent="cancel_request", text="/cancel_request", slots={"pending_offer": "plan", "plan_offer": "[]"}))
    assert [m["response"] for m in messages] == ["utter_plan_cancelled"]
    assert {"event": "slot", "name": "plan_offer", "value": None, "timestamp": None} in events
    messages, _ = run_action(ActionCancelRequest(), make_tracker(ANA, intent="cancel_request", text="/cancel_request"))
    assert [m["response"] for m in messages] == ["utter_cancel_what"]
    assert not is_opted_out(ledger, "+525512345678")


def test_an_insult_gets_calm_words_and_a_person_on_offer(ledger: Session) -> None:
    messages, events = run_action(ActionRespondUpset(), make_tracker(ANA, intent="insult", text="son unos ladrones"))
    assert [m["response"] for m in messages] == ["utter_stay_calm"]
    assert {"event": "slot", "name": "pending_offer", "value": "human", "timestamp": None} in events


def test_wrong_person_marks_the_number_and_stops_contact(ledger: Session) -> None:
    conversation = get_or_create_conversation(ledger, "whatsapp:+525512345678")
    conversation.debtor_id = ledger.scalars(select(Phone.debtor_id).where(Phone.e164 == "+525512345678")).one()
    ledger.commit()
    messages, events = run_action(ActionWrongPerson(), make_tracker(ANA, intent="wrong_person"))
    assert [m["response"] for m in messages] == ["utter_wrong_person"]
    assert ledger.scalars(select(Phone.wrong_number).where(Phone.e164 == "+525512345678")).one() is True
    assert is_opted_out(ledger, "+525512345678")
    ledger.expire_all()
    assert ledger.get(Conversation, conversation.id).debtor_id is None  # an agent sees nothing of the debtor here


def test_a_bare_yes_or_no_with_nothing_offered(ledger: Session) -> None:
    for intent in ("affirm", "deny"):
        messages, _ = run_action(ActionAnswerOffer(), make_tracker(ANA, intent=intent))
        assert [m["response"] for m in messages] == ["utter_how_can_i_help"]
    messages, _ = run_action(ActionAnswerOffer(), make_tracker(ANA, intent="deny", slots={"pending_offer": "human"}))
    assert [m["response"] for m in messages] == ["utter_offer_declined"]


def test_an_opt_out_or_wrong_person_on_the_demo_leaves_whatsapp_alone(ledger: Session) -> None:
    demo = "demo:+525512345678"
    assert stop_request(demo, pending="opt_out") == ["utter_opt_out_confirmed"]
    assert is_opted_out(ledger, "demo:+525512345678")
    assert not is_opted_out(ledger, "+525512345678")  # WhatsApp and SMS of the number still hear from us
    run_action(ActionWrongPerson(), make_tracker(demo, intent="wrong_person"))
    ledger.expire_all()
    assert ledger.scalars(select(Phone.wrong_number).where(Phone.e164 == "+525512345678")).one() is False
    stop_request(pending="opt_out")
    assert is_opted_out(ledger, "+525512345678")


def test_an_accepted_offer_of_a_person_keeps_why_it_was_offered(ledger: Session) -> None:
    messages, events = run_action(ActionAnswerOffer(), make_tracker(
        ANA, intent="affirm", slots={"pending_offer": "human", "handoff_reason": "plan_refused_twice"}))
    assert [m["response"] for m in messages] == ["utter_handoff"]
    assert {"event": "slot", "name": "handoff_reason", "value": None, "timestamp": None} in events
    assert ledger.scalars(select(Conversation.mode_reason)).one() == "plan_refused_twice"

