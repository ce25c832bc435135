"""Answers to a verified debtor's request, whether it came before or after verification."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from decimal import Decimal

from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.common import offer_a_person
from actions.slots import (
    AWAITING,
    AWAITING_PROMISE_DATE,
    OFFER_OF_A_PLAN,
    OFFER_OF_A_SETTLEMENT,
    PENDING_OFFER,
    PLAN_OFFER,
)
from bot.common.copy import render
from bot.common.locale import (
    format_deadline,
    format_long_date,
    format_money,
    format_weekday_date,
    local_today,
    zone_for,
)
from bot.common.parsing import parse_date
from bot.common.phones import InvalidPhone
from bot.common.settings import get_settings
from bot.ledger.balances import account_balances, debtor_locale, next_installment
from bot.ledger.models import Account, Debtor, Installment
from bot.messaging.conversations import get_or_create_conversation, request_handoff
from bot.negotiation.agreements import (
    answer_settlement_offer,
    discount_unavailable_reason,
    latest_promise_date,
    lowest_installment_plan,
    negotiable_account,
    proposal_to_json,
    recent_payments,
    record_promise,
    report_case,
    settlement_offer,
)
from bot.payments.documents import document_title, fresh_document_link, latest_documents
from bot.payments.links import PaymentProviderError, Purpose, issue_link
from payments import provider_from_settings

log = logging.getLogger(__name__)

BALANCE_INTENTS = {"ask_balance", "ask_debt_details"}
PROMISE_INTENTS = {"promise_to_pay"}


def offer_human(reason: str) -> list[EventType]:
    return offer_a_person(reason) + [SlotSet(AWAITING, None)]


NOTHING_PENDING: list[EventType] = [SlotSet(PENDING_OFFER, None), SlotSet(AWAITING, None)]


def tell_balance(session: Session, debtor: Debtor, now: datetime, dispatcher: CollectingDispatcher, *,
                 follow_up: str = "utter_balance_follow_up") -> None:
    balances = account_balances(session, debtor, local_today(debtor.country, debtor.timezone, now))
    if not balances:
        dispatcher.utter_message(response="utter_no_open_accounts", first_name=debtor.first_name)
        return
    locale = debtor_locale(debtor)
    dispatcher.utter_message(response="utter_balance_intro", first_name=debtor.first_name)
    for balance in balances:
        dispatcher.utter_message(response=balance.response, **balance.formatted(locale))
    dispatcher.utter_message(response=follow_up)


def send_payment_link(session: Session, debtor: Debtor, account: Account, purpose: Purpose, now: datetime,
                      sender_id: str, dispatcher: CollectingDispatcher, *, amount: Decimal | None = None,
                      installment: Installment | None = None) -> list[EventType]:
    """Issue (or reuse) a checkout link and say it, with how to tell it is genuine."""
    try:
        conversation = get_or_create_conversation(session, sender_id)
    except InvalidPhone:
        conversation = None
    try:
        issued = issue_link(session, provider_from_settings(), account, purpose, now, amount=amount,
                            installment=installment, conversation=conversation)
    except PaymentProviderError:
        log.exception("no payment link for account %s", account.id)
        dispatcher.utter_message(response="utter_payment_link_unavailable")
        return offer_human("payment_link_unavailable")
    locale = debtor_locale(debtor)
    dispatcher.utter_message(
        response="utter_payment_link", amount=format_money(issued.link.amount, account.currency, locale),
        url=issued.url,
        deadline=format_deadline(issued.link.expires_at, locale, zone_for(debtor.country, debtor.timezone)))
    dispatcher.utter_message(response="utter_link_safety", link_prefix=issued.prefix)
    return NOTHING_PENDING


def take_promise(session: Session, debtor: Debtor, text: str, now: datetime,
                 dispatcher: CollectingDispatcher) -> list[EventType]:
    today = local_today(debtor.country, debtor.timezone, now)
    outcome = record_promise(session, debtor, text, today)
    locale = debtor_locale(debtor)
    if outcome.status == "no_account":
        dispatcher.utter_message(response="utter_account_under_review", first_name=debtor.first_name)
        return NOTHING_PENDING
    latest = format_long_date(outcome.latest_date, locale) if outcome.latest_date else ""
    if outcome.status == "unreadable":
        dispatcher.utter_message(response="utter_ask_promise_date")
        return [SlotSet(AWAITING, AWAITING_PROMISE_DATE)]
    if outcome.status == "past":
        dispatcher.utter_message(response="utter_promise_date_past", latest_date=latest)
        return [SlotSet(AWAITING, AWAITING_PROMISE_DATE)]
    if outcome.status == "too_far":
        dispatcher.utter_message(response="utter_promise_too_far", latest_date=latest)
        return [SlotSet(AWAITING, AWAITING_PROMISE_DATE), *offer_a_person("promise_too_far")]
    promise = outcome.promise
    assert promise is not None and promise.amount is not None and outcome.promised_date is not None
    when = format_weekday_date(outcome.promised_date, locale)
    dispatcher.utter_message(response="utter_promise_recorded_amount", first_name=debtor.first_name,
                             amount=format_money(promise.amount, promise.currency, locale), date=when)
    return NOTHING_PENDING


def pay_now(session: Session, debtor: Debtor, now: datetime, sender_id: str,
            dispatcher: CollectingDispatcher) -> list[EventType]:
    """'Quiero pagar': the next installment of an open plan, else the best one-payment offer."""
    account = negotiable_account(session, debtor)
    installment = next_installment(session, account) if account is not None else None
    if account is None or installment is None:
        return offer_settlement(session, debtor, now, sender_id, dispatcher)
    locale = debtor_locale(debtor)
    label = "tu pago inicial" if installment.number == 0 else f"tu cuota {installment.number}"
    dispatcher.utter_message(response="utter_next_installment", installment=label,
                             date=format_weekday_date(installment.due_date, locale))
    return send_payment_link(session, debtor, account, "installment", now, sender_id, dispatcher,
                             installment=installment)


def next_installment_due(session: Session, debtor: Debtor, now: datetime, sender_id: str,
                         dispatcher: CollectingDispatcher) -> list[EventType]:
    """'¿Cuándo es mi próxima cuota?': the date and a link for it; without a plan, the balance and the options."""
    account = negotiable_account(session, debtor)
    if account is not None and next_installment(session, account) is not None:
        return pay_now(session, debtor, now, sender_id, dispatcher)
    dispatcher.utter_message(response="utter_no_active_plan")
    tell_balance(session, debtor, now, dispatcher)
    return NOTHING_PENDING


def offer_lowest_installment(session: Session, debtor: Debtor, now: datetime,
                             dispatcher: CollectingDispatcher) -> list[EventType]:
    """The smallest installment the policy allows, put on the table: a "sí" creates that plan."""
    account = negotiable_account(session, debtor)
    plan = lowest_installment_plan(account, local_today(debtor.country, debtor.timezone, now)) if account else None
    if account is None or plan is None:
        dispatcher.utter_message(response="utter_plan_no_options")
        return offer_human("plan_unavailable")
    locale = debtor_locale(debtor)
    regular = [item for item in plan.schedule if item.number > 0]
    down = plan.proposal.down_payment
    down_text = render("utter_lowest_installment_down", amount=format_money(down, account.currency, locale)) \
        if down > 0 else ""
    dispatcher.utter_message(response="utter_lowest_installment", product=account.product, count=len(regular),
                             amount=format_money(regular[0].amount, account.currency, locale), down=down_text)
    return [SlotSet(PENDING_OFFER, OFFER_OF_A_PLAN), SlotSet(AWAITING, None),
            SlotSet(PLAN_OFFER, json.dumps([proposal_to_json(plan.proposal)]))]


def paid_certificate(session: Session, debtor: Debtor, now: datetime,
                     dispatcher: CollectingDispatcher) -> list[EventType]:
    """'Paz y salvo', 'libre deuda', 'carta finiquito': the settlement letter of a paid account, never a
    payment link; with a balance still open, how the letter comes, then the balance."""
    letters = [document for document in latest_documents(session, debtor.id) if document.kind == "settlement_letter"]
    if letters:
        dispatcher.utter_message(response="utter_paid_certificate_sent", first_name=debtor.first_name,
                                 days=get_settings().document_link_days)
        for letter in letters:
            dispatcher.utter_message(response="utter_document_link", title=document_title(letter.kind),
                                     url=fresh_document_link(session, letter.id, debtor.id, now))
    if not letters or account_balances(session, debtor, local_today(debtor.country, debtor.timezone, now)):
        dispatcher.utter_message(response="utter_paid_certificate_pending")
        tell_balance(session, debtor, now, dispatcher)
    return NOTHING_PENDING


def offer_settlement(session: Session, debtor: Debtor, now: datetime, sender_id: str,
                     dispatcher: CollectingDispatcher) -> list[EventType]:
    offer = settlement_offer(session, debtor, local_today(debtor.country, debtor.timezone, now))
    if offer is None:
        dispatcher.utter_message(response="utter_account_under_review", first_name=debtor.first_name)
        return NOTHING_PENDING
    locale = debtor_locale(debtor)
    account = offer.account
    names = {"product": account.product, "creditor": account.creditor.name,
             "amount": format_money(offer.amount, account.currency, locale)}
    if offer.discounted:
        dispatcher.utter_message(response="utter_settlement_discount", **names,
                                 total=format_money(account.total, account.currency, locale),
                                 valid_until=format_long_date(offer.valid_until, locale))
    else:
        dispatcher.utter_message(response="utter_settlement_total", **names)
    return send_payment_link(session, debtor, account, "settlement" if offer.discounted else "full", now,
                             sender_id, dispatcher, amount=offer.amount)


def answer_discount_question(session: Session, debtor: Debtor, now: datetime, sender_id: str,
                             dispatcher: CollectingDispatcher) -> list[EventType]:
    """"¿Me haces descuento si pago todo?": the settlement amount and until when, or plainly that there is none
    and why (never a full-price link as if it were the answer)."""
    account = negotiable_account(session, debtor)
    today = local_today(debtor.country, debtor.timezone, now)
    reason = discount_unavailable_reason(account, today) if account is not None else None
    if account is None or reason is None:
        return offer_settlement(session, debtor, now, sender_id, dispatcher)
    dispatcher.utter_message(response="utter_no_discount", reason=_no_discount_reason(account, reason),
                             product=account.product,
                             amount=format_money(account.total, account.currency, debtor_locale(debtor)))
    return NOTHING_PENDING


NO_DISCOUNT_RESPONSES = {"in_policy": "utter_no_discount_in_policy",
                         "nothing_to_discount": "utter_no_discount_nothing_to_discount"}


def _no_discount_reason(account: Account, reason: str) -> str:
    return render(NO_DISCOUNT_RESPONSES[reason], creditor=account.creditor.name)


def answer_settlement_proposal(session: Session, debtor: Debtor, offered: Decimal, now: datetime, sender_id: str,
                               dispatcher: CollectingDispatcher) -> list[EventType]:
    """"Te doy 17 mil y quedamos a mano": accepted (and its link), countered with the lowest amount the policy
    allows, or, with no discount possible, offered to a person with the offer attached."""
    answer = answer_settlement_offer(session, debtor, offered, local_today(debtor.country, debtor.timezone, now))
    if answer is None:
        dispatcher.utter_message(response="utter_account_under_review", first_name=debtor.first_name)
        return NOTHING_PENDING
    if answer.status == "full_amount":
        return offer_settlement(session, debtor, now, sender_id, dispatcher)
    locale = debtor_locale(debtor)
    account = answer.account
    values = {"offered": format_money(offered, account.currency, locale), "product": account.product,
              "amount": format_money(answer.amount, account.currency, locale),
              "valid_until": format_long_date(answer.valid_until, locale)}
    on_the_table = json.dumps([{"offered": str(offered), "amount": str(answer.amount),
                                "valid_until": answer.valid_until.isoformat()}])
    if answer.status == "accepted":
        dispatcher.utter_message(response="utter_settlement_offer_accepted", **values)
        return send_payment_link(session, debtor, account, "settlement", now, sender_id, dispatcher,
                                 amount=answer.amount) + NOTHING_PENDING
    if answer.status == "countered":
        dispatcher.utter_message(response="utter_settlement_offer_counter", **values)
        return [SlotSet(PENDING_OFFER, OFFER_OF_A_SETTLEMENT), SlotSet(AWAITING, None),
                SlotSet(PLAN_OFFER, on_the_table)]
    reason = discount_unavailable_reason(account, local_today(debtor.country, debtor.timezone, now)) or "in_policy"
    dispatcher.utter_message(response="utter_settlement_offer_to_a_person",
                             reason=_no_discount_reason(account, reason), **values)
    return [*offer_human("settlement_offer"), SlotSet(PLAN_OFFER, on_the_table)]


def grant_more_time(session: Session, debtor: Debtor, text: str, now: datetime,
                    dispatcher: CollectingDispatcher) -> list[EventType]:
    """"¿Me das chance hasta la quincena?": a promise to pay on that date, checked against the policy and
    confirmed with the weekday and the amount; without a date, until when, and how far we can wait."""
    today = local_today(debtor.country, debtor.timezone, now)
    if parse_date(text, today) is not None:
        return take_promise(session, debtor, text, now, dispatcher)
    account = negotiable_account(session, debtor)
    if account is None:
        dispatcher.utter_message(response="utter_account_under_review", first_name=debtor.first_name)
        return NOTHING_PENDING
    dispatcher.utter_message(response="utter_ask_extension_date", first_name=debtor.first_name,
                             latest_date=format_long_date(latest_promise_date(account, today), debtor_locale(debtor)))
    return [SlotSet(AWAITING, AWAITING_PROMISE_DATE), SlotSet(PENDING_OFFER, None)]


def acknowledge_payment(session: Session, debtor: Debtor, sender_id: str, now: datetime,
                        dispatcher: CollectingDispatcher) -> list[EventType]:
    """Look for the payment; if it is not there, ask when and how much and hand the case to a person."""
    payments = recent_payments(session, debtor, now - timedelta(days=30))
    locale = debtor_locale(debtor)
    if payments:
        payment = payments[0]
        paid_on = local_today(debtor.country, debtor.timezone, payment.paid_at)
        dispatcher.utter_message(response="utter_already_paid_seen", first_name=debtor.first_name,
                                 amount=format_money(payment.amount, payment.currency, locale),
                                 date=format_long_date(paid_on, locale))
        return NOTHING_PENDING
    report_case(session, debtor, "already_paid", local_today(debtor.country, debtor.timezone, now))
    request_handoff(session, sender_id, "already_paid", now, debtor.id)
    dispatcher.utter_message(response="utter_already_paid")
    return NOTHING_PENDING


def resend_documents(session: Session, debtor: Debtor, now: datetime,
                     dispatcher: CollectingDispatcher) -> list[EventType]:
    """Fresh signed links to the debtor's newest letter, agreement and receipt (old links expire)."""
    documents = latest_documents(session, debtor.id)
    if not documents:
        dispatcher.utter_message(response="utter_no_documents", first_name=debtor.first_name)
        return NOTHING_PENDING
    dispatcher.utter_message(response="utter_documents_intro", first_name=debtor.first_name,
                             days=get_settings().document_link_days)
    for document in documents:
        dispatcher.utter_message(response="utter_document_link", title=document_title(document.kind),
                                 url=fresh_document_link(session, document.id, debtor.id, now))
    return NOTHING_PENDING
