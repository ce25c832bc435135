"""Handoff to a human, fallbacks, opt-out and wrong person: each one call into bot/."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import ask_to_rephrase, in_thread, message_id_of, offer_a_person, sender_of, utcnow
from actions.slots import (
    AWAITING,
    AWAITING_PLAN_DETAILS,
    DEBTOR_FIRST_NAME,
    HANDOFF_REASON,
    OFFER_OF_A_PLAN,
    OFFER_TO_STOP,
    PENDING_OFFER,
    PLAN_OFFER,
    PLAN_REQUEST,
    VERIFIED,
)
from bot.common.copy import app_message
from bot.identity.verification import mark_wrong_number, verified_debtor
from bot.ledger.db import session_scope
from bot.messaging.contact import opt_out
from bot.messaging.conversations import conversation_country, handoff_eta, request_handoff


def hand_off(tracker: Tracker, dispatcher: CollectingDispatcher, reason: str,
             facts: dict[str, str] | None = None) -> list[EventType]:
    """Queue the conversation for a person and tell the debtor; what was on offer is cleared. `facts` (an offer
    the debtor made) go on the hand-off, so the person sees them at once."""
    sender = sender_of(tracker)
    now = utcnow()
    when = app_message("handoff_eta_soon")
    if sender.e164:
        with session_scope() as session:
            debtor = verified_debtor(session, sender.key, now)
            conversation = request_handoff(session, sender.sender_id, reason, now, debtor.id if debtor else None,
                                           facts)
            when = handoff_eta(conversation_country(session, conversation), now)
    dispatcher.utter_message(response="utter_handoff", when=when)
    return [SlotSet(PENDING_OFFER, None), SlotSet(PLAN_OFFER, None), SlotSet(HANDOFF_REASON, None)]


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    @in_thread
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: dict[str, Any]) -> list[EventType]:
        return hand_off(tracker, dispatcher, "debtor_request")


class ActionFallback(Action):
    """Two stages: ask to rephrase, then (second miss in a row) offer a human."""

    def name(self) -> str:
        return "action_fallback"

    @in_thread
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: dict[str, Any]) -> list[EventType]:
        return ask_to_rephrase(tracker, dispatcher)


def stop_contact(tracker: Tracker, dispatcher: CollectingDispatcher) -> list[EventType]:
    """The debtor confirmed: no more automated messages to this number (ALTA undoes it)."""
    sender = sender_of(tracker)
    if sender.e164:
        with session_scope() as session:
            opt_out(session, sender.key, sender.channel, source="intent", message_id=message_id_of(tracker))
    dispatcher.utter_message(response="utter_opt_out_confirmed")
    return [SlotSet(PENDING_OFFER, None)]


class ActionConfirmOptOut(Action):
    """A request to stop, read by the model, is confirmed once before it is carried out: "déjame pensarlo" must
    never cost a debtor their reminders. Asked twice in a row, or BAJA (a gateway keyword), it is done."""

    def name(self) -> str:
        return "action_confirm_opt_out"

    @in_thread
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: dict[str, Any]) -> list[EventType]:
        if tracker.get_slot(PENDING_OFFER) == OFFER_TO_STOP:
            return stop_contact(tracker, dispatcher)
        dispatcher.utter_message(response="utter_confirm_opt_out")
        return [SlotSet(PENDING_OFFER, OFFER_TO_STOP), SlotSet(HANDOFF_REASON, None)]


class ActionCancelRequest(Action):
    """"Cancelar" alone (the gateway sends it as an intent): inside a plan it drops the plan; elsewhere it asks
    what to cancel, since "cancelar la deuda" means paying it off."""

    def name(self) -> str:
        return "action_cancel_request"

    @in_thread
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: dict[str, Any]) -> list[EventType]:
        if tracker.get_slot(PENDING_OFFER) == OFFER_OF_A_PLAN or tracker.get_slot(AWAITING) == AWAITING_PLAN_DETAILS:
            dispatcher.utter_message(response="utter_plan_cancelled")
            return [SlotSet(PENDING_OFFER, None), SlotSet(PLAN_OFFER, None), SlotSet(PLAN_REQUEST, None),
                    SlotSet(AWAITING, None)]
        dispatcher.utter_message(response="utter_cancel_what")
        return [SlotSet(PENDING_OFFER, None)]


class ActionRespondUpset(Action):
    """An insult gets a calm, respectful answer and a person on offer; never the balance."""

    def name(self) -> str:
        return "action_respond_upset"

    @in_thread
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(response="utter_stay_calm")
        return offer_a_person("upset")


class ActionWrongPerson(Action):
    """Not the debtor: mark the number, stop contacting it, and say nothing more. (Someone writing for the
    debtor never gets here: the gateway sends them the privacy line, see bot.messaging.third_party.)"""

    def name(self) -> str:
        return "action_wrong_person"

    @in_thread
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: dict[str, Any]) -> list[EventType]:
        sender = sender_of(tracker)
        if sender.e164:
            with session_scope() as session:
                mark_wrong_number(session, sender.key)
                opt_out(session, sender.key, sender.channel, source="wrong_person", message_id=message_id_of(tracker))
        dispatcher.utter_message(response="utter_wrong_person")
        return [SlotSet(VERIFIED, False), SlotSet(DEBTOR_FIRST_NAME, None), SlotSet(PENDING_OFFER, None)]
