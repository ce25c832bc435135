"""Answers to a verified debtor's request, whether it came before or after verification."""
from __future__ import annotations

from datetime import datetime

from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from bot import config
from bot.balances import account_balances, debtor_locale
from bot.locale import join_spanish, local_today
from bot.storage.models import AuditLog, Debtor

BALANCE_INTENTS = {"ask_balance", "ask_debt_details"}
# Negotiation lands in its own issue; until then these are recognised and answered honestly.
NEGOTIATION_INTENTS = {"pay_in_full", "request_payment_plan", "offer_amount", "promise_to_pay", "ask_discount"}
HUMAN_OFFER_RESPONSES = {
    "already_paid": "utter_already_paid",
    "dispute_debt": "utter_dispute",
    "cannot_pay": "utter_cannot_pay",
    **{intent: "utter_negotiation_coming" for intent in NEGOTIATION_INTENTS},
}


def tell_balance(session: Session, debtor: Debtor, now: datetime, dispatcher: CollectingDispatcher) -> None:
    balances = account_balances(session, debtor, local_today(debtor.country, debtor.timezone, now))
    if not balances:
        dispatcher.utter_message(response="utter_no_open_accounts", first_name=debtor.first_name)
        return
    locale = debtor_locale(debtor)
    dispatcher.utter_message(response="utter_balance_intro", first_name=debtor.first_name)
    for balance in balances:
        dispatcher.utter_message(response=balance.response, **balance.formatted(locale))
    dispatcher.utter_message(response="utter_balance_follow_up")


def respond_to_verified(intent: str | None, session: Session, debtor: Debtor, now: datetime,
                        dispatcher: CollectingDispatcher, just_verified: bool = False) -> list[EventType]:
    """One verified request, answered; returns the slot events that go with the answer."""
    if intent in BALANCE_INTENTS:
        tell_balance(session, debtor, now, dispatcher)
        return [SlotSet("pending_offer", None)]
    if intent in HUMAN_OFFER_RESPONSES:
        if intent in ("dispute_debt", "cannot_pay", "already_paid"):
            session.add(AuditLog(actor="bot", action=f"{intent}_reported", entity_type="debtor",
                                 entity_id=str(debtor.id), details={}))
        dispatcher.utter_message(response=HUMAN_OFFER_RESPONSES[intent])
        return [SlotSet("pending_offer", "human")]
    if intent == "ask_payment_methods":
        methods = config.country(debtor.country).payment_methods
        dispatcher.utter_message(response="utter_payment_methods", methods=join_spanish(methods))
        return [SlotSet("pending_offer", None)]
    greeting = "utter_greet_verified" if just_verified else "utter_greet_known"
    dispatcher.utter_message(response=greeting, first_name=debtor.first_name)
    return [SlotSet("pending_offer", None)]
