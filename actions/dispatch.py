"""Which answer a verified debtor's message gets: one place that reads the intent, what the bot is waiting
for, and the words themselves (a settlement offer, a request for time, a whole plan)."""
from __future__ import annotations

import re
from datetime import date, datetime

from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.answers import (
    BALANCE_INTENTS,
    NOTHING_PENDING,
    PROMISE_INTENTS,
    acknowledge_payment,
    answer_discount_question,
    answer_settlement_proposal,
    grant_more_time,
    next_installment_due,
    offer_human,
    offer_lowest_installment,
    paid_certificate,
    pay_now,
    resend_documents,
    take_promise,
    tell_balance,
)
from actions.plan import continue_plan, plan_talk
from actions.slots import AWAITING_PLAN_DETAILS, AWAITING_PROMISE_DATE
from bot.common import config
from bot.common.locale import join_spanish, local_today
from bot.common.parsing import parse_date
from bot.ledger.models import Debtor
from bot.negotiation.agreements import CaseReason, report_case
from bot.negotiation.requests import asks_for_more_time, read_plan_request, settlement_amount

_PAYING = re.compile(r"\b(pago|pagar|pagaria|deposito|depositar|abono|abonar|transfiero|cancelo)\b")
PLAN_INTENTS = {"request_payment_plan", "offer_amount"}
# Intents a request for more time ("me das chance hasta la quincena?") is easily mistaken for.
_TIME_CAN_HIDE_IN = PLAN_INTENTS | {"goodbye", "nlu_fallback", "cannot_pay", "need_time", "promise_to_pay"}
# While a plan is being put together, these carry its pieces ("6", "2000 al mes", "el viernes").
PLAN_DETAIL_INTENTS = PLAN_INTENTS | {"inform", "promise_to_pay"}
# Intents a "te doy X y quedamos a mano" can come under: the words decide it is a settlement offer.
SETTLEMENT_INTENTS = PLAN_INTENTS | {"ask_discount", "pay_in_full", "inform", "promise_to_pay"}


def understood_intent(intent: str | None, text: str, awaiting: str | None, today: date) -> str | None:
    """The intent the words show when the model's guess cannot be right here: "hasta el viernes" answers
    "¿hasta cuándo?" (the model hears a goodbye), "dame hasta el viernes" asks for time, "500 al mes" while
    a plan is being put together is part of it."""
    dated = parse_date(text, today) is not None
    if intent == "goodbye" and dated and (awaiting is not None or _PAYING.search(text.lower())):
        return "inform" if awaiting is not None else "promise_to_pay"
    if intent in _TIME_CAN_HIDE_IN and asks_for_more_time(text) and awaiting != AWAITING_PLAN_DETAILS:
        terms = read_plan_request(text, today)
        if not (terms.has_terms or terms.has_down_payment):  # "chance hasta la quincena", not "3 cuotas"
            return "request_extension"
    if intent == "nlu_fallback":
        if settlement_amount(text) is not None:
            return "offer_amount"
        if awaiting == AWAITING_PLAN_DETAILS and not read_plan_request(text, today).is_empty():
            return "inform"
        if awaiting == AWAITING_PROMISE_DATE and dated:
            return "inform"
    return intent


def respond_to_verified(intent: str | None, session: Session, debtor: Debtor, now: datetime,
                        dispatcher: CollectingDispatcher, *, text: str = "", sender_id: str = "",
                        awaiting: str | None = None, just_verified: bool = False, plan_state: str | None = None,
                        voseo: bool = False) -> list[EventType]:
    """One verified request, answered; returns the slot events that go with the answer (a goodbye or an unread
    message that the words do not explain are left to the caller: see `understood_intent`)."""
    offered = settlement_amount(text) if intent in SETTLEMENT_INTENTS else None
    if offered is not None:
        return answer_settlement_proposal(session, debtor, offered, now, sender_id, dispatcher)
    if intent == "request_extension":
        return grant_more_time(session, debtor, text, now, dispatcher)
    if intent in PLAN_INTENTS or (intent in PLAN_DETAIL_INTENTS and awaiting == AWAITING_PLAN_DETAILS):
        talk = plan_talk(session, debtor, now, dispatcher, voseo)
        if talk is None:
            dispatcher.utter_message(response="utter_account_under_review", first_name=debtor.first_name)
            return NOTHING_PENDING
        starting = intent in PLAN_INTENTS and awaiting != AWAITING_PLAN_DETAILS
        return continue_plan(talk, text, plan_state, starting=starting)
    if intent in PROMISE_INTENTS or (intent == "inform" and awaiting == AWAITING_PROMISE_DATE):
        return take_promise(session, debtor, text, now, dispatcher)
    if intent == "inform":  # a bare answer to nothing the bot asked
        dispatcher.utter_message(response="utter_how_can_i_help")
        return NOTHING_PENDING
    if intent in BALANCE_INTENTS:
        tell_balance(session, debtor, now, dispatcher)
        return NOTHING_PENDING
    if intent == "pay_in_full":
        return pay_now(session, debtor, now, sender_id, dispatcher)
    if intent == "ask_discount":
        return answer_discount_question(session, debtor, now, sender_id, dispatcher)
    if intent == "already_paid":
        return acknowledge_payment(session, debtor, sender_id, now, dispatcher)
    if intent == "request_document":
        return resend_documents(session, debtor, now, dispatcher)
    if intent in ("dispute_debt", "cannot_pay"):
        case: CaseReason = "dispute" if intent == "dispute_debt" else "hardship"
        report_case(session, debtor, case, local_today(debtor.country, debtor.timezone, now))  # pauses per policy
        dispatcher.utter_message(response="utter_dispute" if intent == "dispute_debt" else "utter_cannot_pay")
        return offer_human(case)
    if intent == "ask_why_amount_grew":
        dispatcher.utter_message(response="utter_why_amount_grew")
        tell_balance(session, debtor, now, dispatcher, follow_up="utter_amount_error_offer")
        return NOTHING_PENDING
    if intent == "ask_next_installment":
        return next_installment_due(session, debtor, now, sender_id, dispatcher)
    if intent == "ask_lowest_installment":
        return offer_lowest_installment(session, debtor, now, dispatcher)
    if intent == "request_paid_certificate":
        return paid_certificate(session, debtor, now, dispatcher)
    if intent == "ask_payment_methods":
        methods = config.country(debtor.country).payment_methods
        dispatcher.utter_message(response="utter_payment_methods", methods=join_spanish(methods))
        return NOTHING_PENDING
    greeting = "utter_greet_verified" if just_verified else "utter_greet_known"
    dispatcher.utter_message(response=greeting, first_name=debtor.first_name)
    return NOTHING_PENDING
