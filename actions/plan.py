"""The payment-plan form: collect what is missing, ask the policy engine, confirm the full schedule."""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.answers import PLAN_SLOTS, send_payment_link
from actions.common import offer_a_person, sender_of, utcnow
from actions.conversation import hand_off, stop_contact
from actions.slots import (
    HANDOFF_REASON,
    OFFER_OF_A_PERSON,
    OFFER_OF_A_PLAN,
    OFFER_TO_STOP,
    PENDING_OFFER,
    PLAN_DOWN_PAYMENT,
    PLAN_FIRST_DATE,
    PLAN_OFFER,
    PLAN_TERMS,
)
from bot.common.copy import render
from bot.common.locale import format_money, format_weekday_date, local_today
from bot.common.parsing import parse_amount, parse_date
from bot.identity.verification import verified_debtor
from bot.ledger.balances import debtor_locale
from bot.ledger.db import session_scope
from bot.ledger.models import Account, Debtor
from bot.negotiation.agreements import (
    create_plan,
    evaluate_plan,
    minimum_down,
    negotiable_account,
    parse_plan_terms,
    plan_proposal,
    proposal_from_json,
    proposal_to_json,
)
from bot.negotiation.policy import Plan, PolicyVerdict
from bot.payments.documents import document_url, issue_agreement
from bot.payments.links import withdraw_links
from payments import provider_from_settings


def _debtor_and_account(session: Session, tracker: Tracker) -> tuple[Debtor | None, Account | None]:
    sender = sender_of(tracker)
    debtor = verified_debtor(session, sender.key, utcnow()) if sender.e164 else None
    return debtor, (negotiable_account(session, debtor) if debtor else None)


def schedule_text(plan: Plan, account: Account, locale: str) -> tuple[str, str]:
    """The schedule, one line per payment (copy from domain.yml), and its total."""
    lines = []
    for item in plan.schedule:
        values = {"date": format_weekday_date(item.due, locale),
                  "amount": format_money(item.amount, account.currency, locale)}
        lines.append(render("utter_plan_line_down", **values) if item.number == 0 else
                     render("utter_plan_line", number=item.number, **values))
    return "\n".join(lines), format_money(plan.total, account.currency, locale)


class ActionPreparePlan(Action):
    """Before the form: forget an old plan's answers and keep what this message already says."""

    def name(self) -> str:
        return "action_prepare_plan"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        text = tracker.latest_message.get("text") or ""
        terms = parse_plan_terms(text)
        events: list[EventType] = [SlotSet(slot, None) for slot in PLAN_SLOTS]
        events += [SlotSet(PLAN_OFFER, None), SlotSet(PENDING_OFFER, None)]
        if terms is not None:
            events.append(SlotSet(PLAN_TERMS, text))
        return events


class ActionAskPlanDownPayment(Action):
    def name(self) -> str:
        return "action_ask_plan_down_payment"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        with session_scope() as session:
            debtor, account = _debtor_and_account(session, tracker)
            if debtor is None or account is None:
                dispatcher.utter_message(response="utter_plan_amount_hint")
                return []
            today = local_today(debtor.country, debtor.timezone, utcnow())
            minimum = format_money(minimum_down(account, today), account.currency, debtor_locale(debtor))
        dispatcher.utter_message(response="utter_plan_down_payment_question", minimum=minimum)
        return []


class ValidatePlanForm(FormValidationAction):
    def name(self) -> str:
        return "validate_plan_form"

    async def validate_plan_terms(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> dict[str, Any]:
        if value is None:  # cleared by action_prepare_plan, not answered: the form just asks
            return {PLAN_TERMS: None}
        if parse_plan_terms(str(value or "")) is None:
            dispatcher.utter_message(response="utter_plan_terms_hint")
            return {PLAN_TERMS: None}
        return {PLAN_TERMS: str(value)}

    async def validate_plan_down_payment(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                         domain: DomainDict) -> dict[str, Any]:
        if value is None:
            return {PLAN_DOWN_PAYMENT: None}
        text = str(value).strip().lower()
        amount = parse_amount(text) if text not in ("0", "nada", "cero", "no tengo") else 0
        if amount is None:
            dispatcher.utter_message(response="utter_plan_amount_hint")
            return {PLAN_DOWN_PAYMENT: None}
        return {PLAN_DOWN_PAYMENT: str(amount)}

    async def validate_plan_first_date(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                       domain: DomainDict) -> dict[str, Any]:
        if value is None:
            return {PLAN_FIRST_DATE: None}
        with session_scope() as session:
            debtor, _ = _debtor_and_account(session, tracker)
            today = local_today(debtor.country, debtor.timezone, utcnow()) if debtor else utcnow().date()
        day = parse_date(str(value or ""), today)
        if day is None or day < today:
            dispatcher.utter_message(response="utter_plan_date_hint")
            return {PLAN_FIRST_DATE: None}
        return {PLAN_FIRST_DATE: day.isoformat()}


class ActionProposePlan(Action):
    """Ask the policy engine; show the plan to confirm, or the closest one inside the limits."""

    def name(self) -> str:
        return "action_propose_plan"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        with session_scope() as session:
            debtor, account = _debtor_and_account(session, tracker)
            terms = parse_plan_terms(tracker.get_slot(PLAN_TERMS) or "")
            if debtor is None or account is None or terms is None:
                dispatcher.utter_message(response="utter_plan_no_options")
                return offer_a_person("plan_unavailable")
            today = local_today(debtor.country, debtor.timezone, utcnow())
            proposal = plan_proposal(account, terms, Decimal(tracker.get_slot(PLAN_DOWN_PAYMENT) or "0"),
                                     date.fromisoformat(tracker.get_slot(PLAN_FIRST_DATE)))
            decision = evaluate_plan(account, proposal, today)
            plans = [decision.plan] if decision.plan else list(decision.alternatives)
            if decision.verdict is PolicyVerdict.REJECT or not plans:
                dispatcher.utter_message(response="utter_plan_no_options")
                return offer_a_person("plan_outside_policy")
            lines, total = schedule_text(plans[0], account, debtor_locale(debtor))
            response = "utter_plan_proposal" if decision.verdict is PolicyVerdict.ACCEPT else "utter_plan_counter"
            dispatcher.utter_message(response=response, product=account.product, lines=lines, total=total)
        return [SlotSet(PENDING_OFFER, OFFER_OF_A_PLAN),
                SlotSet(PLAN_OFFER, json.dumps([proposal_to_json(plan.proposal) for plan in plans]))]


class ActionAnswerOffer(Action):
    """A bare "sí" or "no": to a person, to a plan, or to nothing on the table."""

    def name(self) -> str:
        return "action_answer_offer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        accepted = (tracker.latest_message.get("intent") or {}).get("name") == "affirm"
        offer = tracker.get_slot(PENDING_OFFER)
        cleared: list[EventType] = [SlotSet(PENDING_OFFER, None), SlotSet(PLAN_OFFER, None)]
        if offer == OFFER_OF_A_PERSON and accepted:
            return hand_off(tracker, dispatcher, tracker.get_slot(HANDOFF_REASON) or "offer_accepted")
        if offer == OFFER_TO_STOP:
            if accepted:
                return stop_contact(tracker, dispatcher)
            dispatcher.utter_message(response="utter_opt_out_kept")
            return cleared
        if offer == OFFER_OF_A_PLAN:
            return self._answer_plan(dispatcher, tracker, accepted)
        declined = "utter_offer_declined" if offer == OFFER_OF_A_PERSON else "utter_how_can_i_help"
        dispatcher.utter_message(response=declined)
        return cleared

    def _answer_plan(self, dispatcher: CollectingDispatcher, tracker: Tracker, accepted: bool) -> list[EventType]:
        options = [proposal_from_json(item) for item in json.loads(tracker.get_slot(PLAN_OFFER) or "[]")]
        with session_scope() as session:
            debtor, account = _debtor_and_account(session, tracker)
            if debtor is None or account is None or not options:
                dispatcher.utter_message(response="utter_plan_no_options")
                return [*offer_a_person("plan_unavailable"), SlotSet(PLAN_OFFER, None)]
            today = local_today(debtor.country, debtor.timezone, utcnow())
            locale = debtor_locale(debtor)
            if accepted:
                now = utcnow()
                plan = create_plan(session, account, options[0], today)
                if plan is not None:
                    dispatcher.utter_message(response="utter_plan_created", first_name=debtor.first_name,
                                             count=len(plan.installments),
                                             first_date=format_weekday_date(plan.installments[0].due_date, locale))
                    withdraw_links(session, provider_from_settings(), account.id, now, plans_other_than=plan.id)
                    agreement = issue_agreement(session, plan, account, now)
                    dispatcher.utter_message(response="utter_plan_agreement",
                                             url=document_url(agreement, account, now))
                    events = send_payment_link(session, debtor, account, "installment", now,
                                               sender_of(tracker).sender_id, dispatcher,
                                               installment=plan.installments[0])
                    return events + [SlotSet(PLAN_OFFER, None)]
            remaining = options[1:]
            if remaining:
                decision = evaluate_plan(account, remaining[0], today)
                if decision.plan is not None:
                    lines, total = schedule_text(decision.plan, account, locale)
                    dispatcher.utter_message(response="utter_plan_other_option", lines=lines, total=total)
                    return [SlotSet(PLAN_OFFER, json.dumps([proposal_to_json(p) for p in remaining]))]
        dispatcher.utter_message(response="utter_plan_no_options")
        return [*offer_a_person("plan_refused_twice"), SlotSet(PLAN_OFFER, None)]
