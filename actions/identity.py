"""The identity form: ask, check through bot.identity.verification, and only then answer the original request."""
from __future__ import annotations

import math
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict

from actions.common import (
    Sender,
    ask_to_rephrase,
    country_in,
    in_thread,
    offer_a_person,
    sender_of,
    triggering_message,
    utcnow,
)
from actions.dispatch import respond_to_verified, understood_intent
from actions.slots import (
    AWAITING,
    DEBTOR_FIRST_NAME,
    IDENTITY_ANSWER,
    IDENTITY_FEEDBACK,
    PENDING_OFFER,
    PLAN_REQUEST,
    VERIFIED,
    VOSEO,
)
from bot.common import config
from bot.common.copy import app_message
from bot.common.locale import local_today
from bot.identity.verification import (
    Lock,
    Outcome,
    asks_which_document,
    hand_off_for_review,
    identity_status,
    minutes_until,
    redact_identity_message,
    verified_debtor,
    verify,
)
from bot.ledger.db import session_scope

FORM = "identity_form"
_LONG_LOCK_MINUTES = 90  # past this a lock is told in hours (the daily cap pauses until the day ends)


def _tell_lock(dispatcher: CollectingDispatcher, lock: Lock, now: datetime, *, voseo: bool = False) -> None:
    """How long verification is paused, or that a person will review it."""
    if lock.until is None:
        dispatcher.utter_message(response="utter_identity_review")
        return
    minutes = minutes_until(lock.until, now)
    if minutes > _LONG_LOCK_MINUTES:
        dispatcher.utter_message(text=app_message("identity_locked_hours", hours=math.ceil(minutes / 60),
                                                  voseo=voseo))
    else:
        dispatcher.utter_message(response="utter_identity_locked", minutes=minutes)


@dataclass(frozen=True)
class _FormFacts:
    """What one validation call needs from the ledger, read once at its start: rasa-sdk asks `required_slots`
    three times a call (extraction, validation, the next slot to ask), and the question names the document."""

    nothing_to_ask: bool  # already verified (another session or channel) or locked: the form ends
    document: str  # what the number's country calls the document whose digits we ask for


_FACTS: ContextVar[_FormFacts | None] = ContextVar("identity_form_facts", default=None)


class ValidateIdentityForm(FormValidationAction):
    """Checks each answer, and asks the form's next question itself: with an `action_ask_identity_answer`, Rasa's
    form would call the action server a second time every turn only to ask it (issue 23)."""

    def name(self) -> str:
        return "validate_identity_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[EventType]:
        facts = await _form_facts(tracker)
        token = _FACTS.set(facts)
        try:
            events = await super().run(dispatcher, tracker, domain)
        finally:
            _FACTS.reset(token)
        if events and events[-1] == SlotSet(REQUESTED_SLOT, IDENTITY_ANSWER):
            # Said even when the message filled nothing; then Rasa rejects the form's turn (another rule answers)
            # and drops this question with it. The feedback is cleared only when there is one: any other slot set
            # would count as a validated answer, and Rasa would no longer reject the turn.
            feedback = tracker.get_slot(IDENTITY_FEEDBACK)
            ask_for_identity(dispatcher, feedback or "", facts.document)
            if feedback:
                events.append(SlotSet(IDENTITY_FEEDBACK, None))
        return events

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> list[str]:
        facts = _FACTS.get() or await _form_facts(tracker)  # the latter when called on its own, not from `run`
        return [] if facts.nothing_to_ask else domain_slots

    async def next_requested_slot(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> EventType | None:
        # Always name the slot to ask for, even the form's own (rasa-sdk names it only when `required_slots`
        # changed the list): on activation Rasa's form then asks at once, instead of calling this action a
        # second time to learn what the first call already knew; and `run` knows when to ask.
        required = await self.required_slots(self.domain_slots(domain), dispatcher, tracker, domain)
        return SlotSet(REQUESTED_SLOT, next((slot for slot in required if tracker.slots.get(slot) is None), None))

    @in_thread
    def validate_identity_answer(self, slot_value: Any, dispatcher: CollectingDispatcher,
                                 tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        sender = sender_of(tracker)
        now = utcnow()
        # The whole message, not only the entity the slot took: "1234 15/03/1985" is one answer.
        text = tracker.latest_message.get("text") or str(slot_value or "")
        if asks_which_document(text):  # a question, not an answer: nothing is checked or counted
            return {IDENTITY_ANSWER: None, IDENTITY_FEEDBACK: "which_document"}
        with session_scope() as session:
            result = verify(session, sender.key, text, now, sender_id=sender.sender_id)
            redact_identity_message(session, sender.sender_id, text)  # checked: keep no digits or dates
            if result.outcome is Outcome.VERIFIED and result.debtor is not None:
                return {IDENTITY_ANSWER: "verified", VERIFIED: True, DEBTOR_FIRST_NAME: result.debtor.first_name}
        if result.outcome is Outcome.LOCKED:
            return {IDENTITY_ANSWER: "locked"}
        if result.outcome is Outcome.MISMATCH:
            return {IDENTITY_ANSWER: None, IDENTITY_FEEDBACK: f"retry:{result.attempts_left}"}
        # nothing to check, or a birth date alone: the hint asks for the digits
        return {IDENTITY_ANSWER: None, IDENTITY_FEEDBACK: "hint"}


@in_thread
def _form_facts(tracker: Tracker) -> _FormFacts:
    sender = sender_of(tracker)
    with session_scope() as session:
        status = identity_status(session, sender.key, utcnow())
        country = country_in(session, sender.sender_id)
    return _FormFacts(nothing_to_ask=bool(sender.e164 and status.verified) or status.lock is not None,
                      document=config.country(country).identity_document)  # INE o CURP, cédula, DNI, RUT


def ask_for_identity(dispatcher: CollectingDispatcher, feedback: str, document: str) -> None:
    """The form's one question a turn: a retry, a hint or an answer to "which document?" each already ask
    again, so the plain question is only said when nothing else was."""
    if feedback.startswith("retry:"):
        left = int(feedback.partition(":")[2])
        if left == 1:
            dispatcher.utter_message(response="utter_identity_retry_last")
        else:
            dispatcher.utter_message(response="utter_identity_retry", attempts_left=left)
    elif feedback == "which_document":
        dispatcher.utter_message(response="utter_identity_which_document", document=document)
    elif feedback == "hint":
        dispatcher.utter_message(response="utter_identity_hint", document=document)
    else:
        dispatcher.utter_message(response="utter_identity_question", document=document)


class ActionRespondAfterVerification(Action):
    """Runs when the identity form ends: answer what was asked, or explain the lock."""

    def name(self) -> str:
        return "action_respond_after_verification"

    @in_thread
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: dict[str, Any]) -> list[EventType]:
        sender = sender_of(tracker)
        now = utcnow()
        events: list[EventType] = [SlotSet(IDENTITY_ANSWER, None)]
        with session_scope() as session:
            status = identity_status(session, sender.key, now)
            debtor = status.verified if sender.e164 else None
            if debtor is not None:
                events += [SlotSet(VERIFIED, True), SlotSet(DEBTOR_FIRST_NAME, debtor.first_name)]
                trigger = triggering_message(tracker, FORM)
                events += respond_to_verified(trigger.get("intent"), session, debtor, now, dispatcher,
                                              text=trigger.get("text", ""), sender_id=sender.sender_id,
                                              just_verified=True, plan_state=tracker.get_slot(PLAN_REQUEST),
                                              voseo=bool(tracker.get_slot(VOSEO)))
                return events
            lock = status.lock
            if lock is not None and lock.needs_review and sender.e164:
                hand_off_for_review(session, sender.sender_id, now)  # what we tell them must be true
        if lock is None:
            dispatcher.utter_message(response="utter_how_can_i_help")
        else:
            _tell_lock(dispatcher, lock, now, voseo=bool(tracker.get_slot(VOSEO)))
        if lock is not None and lock.needs_review:  # already with a person
            return events + [SlotSet(VERIFIED, False), SlotSet(PENDING_OFFER, None)]
        reason = "identity_locked" if lock else "identity_unverified"
        return events + [SlotSet(VERIFIED, False), *offer_a_person(reason)]


class ActionRespondVerified(Action):
    """A request from a sender verified earlier in this session."""

    def name(self) -> str:
        return "action_respond_verified"

    @in_thread
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: dict[str, Any]) -> list[EventType]:
        sender: Sender = sender_of(tracker)
        now = utcnow()
        with session_scope() as session:
            debtor = verified_debtor(session, sender.key, now) if sender.e164 else None
            text = tracker.latest_message.get("text") or ""
            awaiting = tracker.get_slot(AWAITING)
            intent = (tracker.latest_message.get("intent") or {}).get("name")
            if debtor is not None:
                intent = understood_intent(intent, text, awaiting, local_today(debtor.country, debtor.timezone, now))
            if intent == "nlu_fallback":
                return ask_to_rephrase(tracker, dispatcher)
            if intent == "goodbye":
                dispatcher.utter_message(response="utter_goodbye")
                return [SlotSet(AWAITING, None), SlotSet(PENDING_OFFER, None)]
            if debtor is None:  # the verification expired or the number was reported: start over
                dispatcher.utter_message(response="utter_need_verification")
                return [SlotSet(VERIFIED, False), SlotSet(DEBTOR_FIRST_NAME, None), FollowupAction(FORM)]
            return respond_to_verified(intent, session, debtor, now, dispatcher, text=text,
                                       sender_id=sender.sender_id, awaiting=awaiting,
                                       plan_state=tracker.get_slot(PLAN_REQUEST), voseo=bool(tracker.get_slot(VOSEO)))
