"""The payment-plan conversation, as a good human agent holds it.

Listen to the whole message (bot.negotiation.requests), repeat what was understood, ask only for what is
missing, say which limit applies when the plan does not fit, and after a "no" move toward the debtor. There is
no Rasa form: any other request leaves the plan (and is answered), and what was said stays in the
`plan_request` slot for when they come back.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import ROUND_UP, Decimal
from typing import Any

from babel.numbers import format_decimal
from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.answers import NOTHING_PENDING, send_payment_link
from actions.common import in_thread, offer_a_person, sender_of, utcnow
from actions.conversation import hand_off, stop_contact
from actions.slots import (
    AWAITING,
    AWAITING_PLAN_DETAILS,
    HANDOFF_REASON,
    OFFER_OF_A_PERSON,
    OFFER_OF_A_PLAN,
    OFFER_OF_A_SETTLEMENT,
    OFFER_TO_STOP,
    PENDING_OFFER,
    PLAN_OFFER,
    PLAN_REQUEST,
    VOSEO,
)
from bot.common.copy import app_message, render
from bot.common.locale import format_long_date, format_money, format_weekday_date, join_spanish, local_today
from bot.identity.verification import verified_debtor
from bot.ledger.balances import debtor_locale
from bot.ledger.db import session_scope
from bot.ledger.models import Account, Debtor
from bot.negotiation.agreements import (
    concession,
    create_plan,
    evaluate_plan,
    minimum_down,
    negotiable_account,
    plan_proposal,
    proposal_from_json,
    proposal_to_json,
)
from bot.negotiation.policy import LimitValue, Plan, PlanProposal, PolicyVerdict
from bot.negotiation.requests import Piece, PlanRequest, read_plan_request
from bot.payments.documents import document_url, issue_agreement
from bot.payments.links import withdraw_links
from payments import provider_from_settings

# A "no" this many times in a row brings a person instead of yet another plan.
MAX_CONCESSIONS = 3
_ASK = {"terms": "utter_ask_plan_terms", "down_payment": "utter_plan_down_payment_question",
        "first_date": "utter_ask_plan_first_date"}
# Each limit the policy engine names (bot.negotiation.policy.PolicyEngine.violations), as the debtor hears it.
LIMIT_RESPONSES = {
    "too_many_installments": "utter_limit_too_many_installments",
    "installments_below_one": "utter_limit_installments_below_one",
    "down_payment_too_small": "utter_limit_down_payment_too_small",
    "down_payment_out_of_range": "utter_limit_down_payment_out_of_range",
    "frequency_not_allowed": "utter_limit_frequency_not_allowed",
    "first_payment_too_late": "utter_limit_first_payment_too_late",
    "first_date_in_the_past": "utter_limit_first_date_in_the_past",
    "installment_too_small": "utter_limit_installment_too_small",
}
_FREQUENCY_WORDS = {"weekly": ("semanal", "semanales"), "biweekly": ("quincenal", "quincenales"),
                    "monthly": ("mensual", "mensuales")}


@dataclass(frozen=True)
class PlanState:
    """The `plan_request` slot: what the debtor said, the piece asked for last, and how many "no"s so far."""

    request: PlanRequest = PlanRequest()
    asked: Piece | None = None
    refusals: int = 0

    @classmethod
    def from_slot(cls, value: str | None) -> PlanState:
        data = json.loads(value) if value else {}
        return cls(PlanRequest.from_json(data.get("request")), data.get("asked"), int(data.get("refusals", 0)))

    def to_slot(self) -> str:
        return json.dumps({"request": self.request.to_json(), "asked": self.asked, "refusals": self.refusals},
                          sort_keys=True)


@dataclass(frozen=True)
class PlanTalk:
    """One turn of the plan conversation: who, which account, where, and how to say it."""

    session: Session
    debtor: Debtor
    account: Account
    now: datetime
    dispatcher: CollectingDispatcher
    voseo: bool

    @property
    def today(self) -> date:
        return local_today(self.debtor.country, self.debtor.timezone, self.now)

    @property
    def locale(self) -> str:
        return debtor_locale(self.debtor)

    def money(self, amount: Decimal) -> str:
        return format_money(amount, self.account.currency, self.locale)

    def example(self, amount: Decimal) -> str:
        """A round amount that fits this account and country ("por ejemplo 1500" means nothing in pesos
        colombianos): two significant digits, grouped as the country writes numbers."""
        if amount <= 0:
            amount = self.account.total / 6
        step = Decimal(10) ** max(0, len(str(int(amount))) - 2)
        return format_decimal((amount / step).quantize(Decimal(1), rounding=ROUND_UP) * step, locale=self.locale)

    def say(self, response: str, **values: Any) -> None:
        self.dispatcher.utter_message(response=response, **values)


def plan_talk(session: Session, debtor: Debtor, now: datetime, dispatcher: CollectingDispatcher,
              voseo: bool) -> PlanTalk | None:
    account = negotiable_account(session, debtor)
    return PlanTalk(session, debtor, account, now, dispatcher, voseo) if account is not None else None


def schedule_text(plan: Plan, account: Account, locale: str) -> tuple[str, str]:
    """The schedule, one line per payment (copy from domain.yml), and its total."""
    lines = []
    for item in plan.schedule:
        values = {"date": format_weekday_date(item.due, locale),
                  "amount": format_money(item.amount, account.currency, locale)}
        lines.append(render("utter_plan_line_down", **values) if item.number == 0 else
                     render("utter_plan_line", number=item.number, **values))
    return "\n".join(lines), format_money(plan.total, account.currency, locale)


def summary(talk: PlanTalk, request: PlanRequest) -> str:
    """'pago inicial de $100.000 hoy, el resto en 3 cuotas mensuales': what was understood, in the debtor's words."""
    parts = []
    if request.down_share is not None:
        share = plan_proposal(talk.account, request, talk.today).down_payment
        parts.append(app_message("plan_summary_down_share", share=_share_words(request), amount=talk.money(share)))
    elif request.down_payment == 0:
        parts.append(app_message("plan_summary_no_down"))
    elif request.down_payment is not None:
        parts.append(app_message("plan_summary_down", amount=talk.money(request.down_payment)))
    frequency = _FREQUENCY_WORDS[request.frequency][1] if request.frequency else ""
    if request.installments is not None:
        after_down = request.has_down_payment and request.down_payment != 0  # "el resto en 3 cuotas"
        if request.installments == 1:
            key = "plan_summary_rest_one_installment" if after_down else "plan_summary_one_installment"
        else:
            key = "plan_summary_rest_installments" if after_down else "plan_summary_installments"
        words = app_message(key, count=request.installments)
        parts.append(f"{words} {frequency}".strip() if request.installments > 1 else words)
    elif request.per_installment is not None:
        parts.append(f"{app_message('plan_summary_per_installment', amount=talk.money(request.per_installment))} "
                     f"{frequency}".strip())
    if request.first_date is not None:
        parts.append(app_message("plan_summary_first_date", date=format_weekday_date(request.first_date, talk.locale)))
    return join_spanish(parts)


def _share_words(request: PlanRequest) -> str:
    assert request.down_share is not None
    return {2: "la mitad", 3: "un tercio", 4: "un cuarto"}.get(request.down_share.denominator, "una parte")


def ask_for(talk: PlanTalk, piece: Piece) -> None:
    if piece == "down_payment":
        talk.say(_ASK[piece], minimum=talk.money(minimum_down(talk.account, talk.today)))
    else:
        talk.say(_ASK[piece])


def hint_for(talk: PlanTalk, piece: Piece) -> None:
    """What a good answer looks like, for the piece just asked: the only complaint a turn can make."""
    if piece == "terms":
        talk.say("utter_plan_terms_hint", example=talk.example(talk.account.total / 6))
    elif piece == "down_payment":
        talk.say("utter_plan_amount_hint", example=talk.example(minimum_down(talk.account, talk.today)))
    else:
        talk.say("utter_plan_date_hint")


def continue_plan(talk: PlanTalk, text: str, state_slot: str | None, *, starting: bool) -> list[EventType]:
    """A message about the plan: fill what it says, then ask for what is missing or propose the plan."""
    state = PlanState.from_slot(state_slot)
    heard = read_plan_request(text, talk.today, state.asked or "terms")
    if heard.first_date is not None and heard.first_date < talk.today:
        talk.say("utter_plan_date_hint")
        heard = replace(heard, first_date=None)
        if heard.is_empty():
            return _waiting_for(state, "first_date")
    request = state.request.merged(heard)
    missing = request.missing()
    if heard.is_empty() and not starting:
        if state.asked is None:  # a plan is on the table and this changes nothing in it
            talk.say("utter_ask_rephrase")
            return []
        hint_for(talk, state.asked)
        return _waiting_for(state, state.asked)
    filled = sum(value is not None for value in heard.to_json().values())
    if starting and heard.is_empty() and not state.request.is_empty():
        talk.say("utter_plan_kept", summary=summary(talk, request))  # back to the plan: what was said is kept
    elif filled > 1:  # a message that said several things hears them back; a bare answer just moves on
        talk.say("utter_plan_understood", summary=summary(talk, request))
    if missing:
        ask_for(talk, missing[0])
        return _waiting_for(PlanState(request), missing[0])
    return propose(talk, PlanState(request))


def _waiting_for(state: PlanState, piece: Piece) -> list[EventType]:
    return [SlotSet(PLAN_REQUEST, replace(state, asked=piece).to_slot()), SlotSet(AWAITING, AWAITING_PLAN_DETAILS),
            SlotSet(PENDING_OFFER, None), SlotSet(PLAN_OFFER, None)]


def limits_text(talk: PlanTalk, limits_broken: tuple[tuple[str, LimitValue], ...]) -> str:
    """'Puedo ofrecerte máximo 6 cuotas. El pago inicial mínimo es $650.00.': each limit that applies."""
    sentences = []
    for reason, value in limits_broken:
        if isinstance(value, Decimal):
            shown: object = talk.money(value)
        elif isinstance(value, date):
            shown = format_weekday_date(value, talk.locale)
        elif isinstance(value, tuple):
            shown = join_spanish([_FREQUENCY_WORDS[item][1] for item in value])
        else:
            shown = value
        sentences.append(render(LIMIT_RESPONSES[reason], limit=shown, voseo=talk.voseo))
    return " ".join(dict.fromkeys(sentences))


def propose(talk: PlanTalk, state: PlanState) -> list[EventType]:
    """Ask the policy engine; show the plan to confirm, or say which limit applies and the closest plan."""
    proposal = plan_proposal(talk.account, state.request, talk.today)
    decision = evaluate_plan(talk.account, proposal, talk.today)
    plan = decision.plan or (decision.alternatives[0] if decision.alternatives else None)
    if decision.verdict is PolicyVerdict.REJECT or plan is None:
        talk.say("utter_plan_no_options")
        return [SlotSet(PLAN_REQUEST, state.to_slot()), SlotSet(AWAITING, None),
                *offer_a_person("plan_outside_policy")]
    lines, total = schedule_text(plan, talk.account, talk.locale)
    if decision.verdict is PolicyVerdict.ACCEPT:
        talk.say("utter_plan_proposal", product=talk.account.product, lines=lines, total=total)
    else:
        talk.say("utter_plan_counter", limits=limits_text(talk, decision.limits_broken), lines=lines, total=total)
    return _on_the_table(state, plan.proposal)


def _on_the_table(state: PlanState, proposal: PlanProposal) -> list[EventType]:
    """A plan waits for "sí" or "no"; words about the plan ("mejor en 8 cuotas") still change it."""
    return [SlotSet(PENDING_OFFER, OFFER_OF_A_PLAN), SlotSet(AWAITING, AWAITING_PLAN_DETAILS),
            SlotSet(PLAN_REQUEST, replace(state, asked=None).to_slot()),
            SlotSet(PLAN_OFFER, json.dumps([proposal_to_json(proposal)]))]


def refuse_plan(talk: PlanTalk, text: str, state_slot: str | None, offered: PlanProposal | None) -> list[EventType]:
    """A "no" to the plan on the table: new terms in the same message change the plan; otherwise the next plan
    toward the debtor (lower installments, then a later start), or a person."""
    state = PlanState.from_slot(state_slot)
    heard = read_plan_request(text, talk.today)
    if not heard.is_empty():
        return continue_plan(talk, text, state.to_slot(), starting=False)
    better = concession(talk.account, offered, talk.today) if offered is not None else None
    if better is None or state.refusals + 1 >= MAX_CONCESSIONS:
        talk.say("utter_plan_no_options")
        return [SlotSet(PLAN_OFFER, None), SlotSet(AWAITING, None), *offer_a_person("plan_refused")]
    lines, total = schedule_text(better, talk.account, talk.locale)
    if offered is not None and better.proposal.installments > offered.installments:
        talk.say("utter_plan_concession_more_installments", lines=lines, total=total)
    else:
        talk.say("utter_plan_concession_later_start", date=format_weekday_date(better.first_due, talk.locale),
                 lines=lines, total=total)
    return _on_the_table(replace(state, refusals=state.refusals + 1), better.proposal)


def accept_plan(talk: PlanTalk, offered: PlanProposal, sender_id: str) -> list[EventType]:
    """"Sí": store the plan (re-checked against the policy now), its written agreement, the first payment's link."""
    plan = create_plan(talk.session, talk.account, offered, talk.today)
    if plan is None:
        talk.say("utter_plan_no_options")
        return [SlotSet(PLAN_OFFER, None), *offer_a_person("plan_unavailable")]
    talk.say("utter_plan_created", first_name=talk.debtor.first_name, count=len(plan.installments),
             first_date=format_weekday_date(plan.installments[0].due_date, talk.locale))
    withdraw_links(talk.session, provider_from_settings(), talk.account.id, talk.now, plans_other_than=plan.id)
    agreement = issue_agreement(talk.session, plan, talk.account, talk.now)
    talk.say("utter_plan_agreement", url=document_url(agreement, talk.account, talk.now))
    events = send_payment_link(talk.session, talk.debtor, talk.account, "installment", talk.now, sender_id,
                               talk.dispatcher, installment=plan.installments[0])
    return events + [SlotSet(PLAN_OFFER, None), SlotSet(PLAN_REQUEST, None), SlotSet(AWAITING, None)]


def _debtor(session: Session, tracker: Tracker) -> Debtor | None:
    sender = sender_of(tracker)
    return verified_debtor(session, sender.key, utcnow()) if sender.e164 else None


def _offer_made(tracker: Tracker) -> dict[str, str] | None:
    """A settlement the debtor offered ("te doy 17 mil y quedamos a mano"), for the person who takes over."""
    table = json.loads(tracker.get_slot(PLAN_OFFER) or "[]")
    if table and isinstance(table[0], dict) and "offered" in table[0]:
        return {"settlement_offer": str(table[0]["offered"])}
    return None


class ActionAnswerOffer(Action):
    """A bare "sí" or "no": to a person, a plan, a settlement, stopping contact, or to nothing on the table."""

    def name(self) -> str:
        return "action_answer_offer"

    @in_thread
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: dict[str, Any]) -> list[EventType]:
        accepted = (tracker.latest_message.get("intent") or {}).get("name") == "affirm"
        offer = tracker.get_slot(PENDING_OFFER)
        cleared: list[EventType] = [SlotSet(PENDING_OFFER, None), SlotSet(PLAN_OFFER, None)]
        if offer == OFFER_OF_A_PERSON and accepted:
            return hand_off(tracker, dispatcher, tracker.get_slot(HANDOFF_REASON) or "offer_accepted",
                            _offer_made(tracker))
        if offer == OFFER_TO_STOP:
            if accepted:
                return stop_contact(tracker, dispatcher)
            dispatcher.utter_message(response="utter_opt_out_kept")
            return cleared
        if offer in (OFFER_OF_A_PLAN, OFFER_OF_A_SETTLEMENT) or tracker.get_slot(AWAITING) == AWAITING_PLAN_DETAILS:
            with session_scope() as session:
                debtor = _debtor(session, tracker)
                talk = plan_talk(session, debtor, utcnow(), dispatcher, bool(tracker.get_slot(VOSEO))) \
                    if debtor is not None else None
                if talk is not None:
                    return self._answer(talk, tracker, offer, accepted)
            dispatcher.utter_message(response="utter_plan_no_options")
            return [*cleared, *offer_a_person("plan_unavailable")]
        declined = "utter_offer_declined" if offer == OFFER_OF_A_PERSON else "utter_how_can_i_help"
        dispatcher.utter_message(response=declined)
        return cleared

    @staticmethod
    def _answer(talk: PlanTalk, tracker: Tracker, offer: str | None, accepted: bool) -> list[EventType]:
        text = tracker.latest_message.get("text") or ""
        table = json.loads(tracker.get_slot(PLAN_OFFER) or "[]")
        state_slot = tracker.get_slot(PLAN_REQUEST)
        if offer == OFFER_OF_A_SETTLEMENT:
            if accepted and table:
                amount = Decimal(str(table[0]["amount"]))
                talk.say("utter_settlement_offer_accepted", amount=talk.money(amount), product=talk.account.product,
                         valid_until=format_long_date(date.fromisoformat(table[0]["valid_until"]), talk.locale))
                return [*send_payment_link(talk.session, talk.debtor, talk.account, "settlement", talk.now,
                                           sender_of(tracker).sender_id, talk.dispatcher, amount=amount),
                        SlotSet(PLAN_OFFER, None)]
            if table:  # a "no" to the lowest amount: their own offer can still go to a person
                talk.say("utter_settlement_counter_declined", offered=talk.money(Decimal(str(table[0]["offered"]))))
                return [*offer_a_person("settlement_offer"), SlotSet(AWAITING, None)]
            talk.say("utter_how_can_i_help")
            return NOTHING_PENDING + [SlotSet(PLAN_OFFER, None)]
        if offer != OFFER_OF_A_PLAN:  # answering a plan question with "sí"/"no": "no" to a down payment is 0
            state = PlanState.from_slot(state_slot)
            if not accepted and state.asked == "down_payment":
                return continue_plan(talk, "0", state_slot, starting=False)
            ask_for(talk, state.asked or "terms")
            return []
        offered = proposal_from_json(table[0]) if table else None
        if accepted and offered is not None:
            return accept_plan(talk, offered, sender_of(tracker).sender_id)
        return refuse_plan(talk, text, state_slot, offered)
