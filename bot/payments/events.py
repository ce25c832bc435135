"""Provider events applied to the ledger: each once, in any order, with a receipt through the outbox.

Stripe retries for days and does not keep order, so an event is stored by id before it is applied, a
checkout can produce at most one Payment (unique provider_ref), and a link's status only moves forward.
An event whose amount or currency is not its link's is kept but never applied: a person looks at it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.common import config
from bot.common.copy import app_message
from bot.common.locale import format_long_date, format_money, locale_for_country
from bot.common.settings import get_settings
from bot.ledger.balances import next_installment
from bot.ledger.db import session_scope
from bot.ledger.models import (
    Account,
    AccountStatus,
    AgreementStatus,
    AuditLog,
    Conversation,
    LinkStatus,
    Payment,
    PaymentEvent,
    PaymentLink,
    PaymentPlan,
    PromiseToPay,
)
from bot.messaging.conversations import request_handoff
from bot.messaging.outbox import queue_proactive
from bot.payments.documents import document_url, issue_receipt, issue_settlement_letter, receipt_number
from bot.payments.links import PaymentProvider, link_by_session, withdraw_links

EventKind = Literal["paid", "awaiting_payment", "payment_failed", "expired", "other"]


@dataclass(frozen=True)
class CheckoutEvent:
    """A provider's event about one checkout, in the ledger's terms (amounts as Decimal)."""

    provider: str
    event_id: str
    event_type: str
    kind: EventKind
    session_id: str | None
    amount: Decimal | None
    currency: str | None
    occurred_at: datetime
    payload: dict[str, Any] = field(default_factory=dict, compare=False)


def store_event(session: Session, event: CheckoutEvent, now: datetime) -> PaymentEvent | None:
    """Keep the event (before acting on it); None if it was already applied: a replay changes nothing."""
    stored = session.scalars(select(PaymentEvent).where(PaymentEvent.provider == event.provider,
                                                        PaymentEvent.event_id == event.event_id)).one_or_none()
    if stored is not None:
        return None if stored.processed_at is not None else stored
    stored = PaymentEvent(provider=event.provider, event_id=event.event_id, event_type=event.event_type,
                          payload=event.payload, received_at=now)
    session.add(stored)
    session.flush()
    return stored


def apply_event(session: Session, event: CheckoutEvent, now: datetime, provider: PaymentProvider) -> str:
    """Apply a stored event once; returns what it did (kept on the event row).

    `provider` closes the account's other open links once it is paid off.
    """
    stored = session.scalars(select(PaymentEvent).where(PaymentEvent.provider == event.provider,
                                                        PaymentEvent.event_id == event.event_id)
                             .with_for_update()).one()
    if stored.processed_at is not None:
        return "duplicate"
    outcome = _apply(session, event, now, provider)
    stored.outcome, stored.processed_at = outcome, now
    return outcome


def receive_event(event: CheckoutEvent, now: datetime, provider: PaymentProvider) -> str:
    """Store the event in its own transaction, then apply it in another: kept even if applying fails.

    Raises IntegrityError when the same event (or checkout) is being received concurrently.
    """
    with session_scope() as session:
        if store_event(session, event, now) is None:
            return "duplicate"
    with session_scope() as session:
        return apply_event(session, event, now, provider)


def _apply(session: Session, event: CheckoutEvent, now: datetime, provider: PaymentProvider) -> str:
    if event.kind == "other":
        return "ignored"
    link = link_by_session(session, event.session_id) if event.session_id else None
    if link is None:
        session.add(AuditLog(actor=event.provider, action="payment_event_unmatched", entity_type="payment_event",
                             entity_id=event.event_id, details={"session_id": event.session_id}))
        return "unmatched"
    mismatch = _mismatch(link, event)
    if mismatch is not None:
        return _refuse_mismatch(session, link, event, mismatch, now)
    if event.kind == "paid":
        return _paid(session, link, event, now, provider)
    if link.status not in (LinkStatus.OPEN, LinkStatus.PROCESSING):
        return "stale"  # already paid, failed or expired: a late event cannot move it back
    if event.kind == "expired":
        link.status = LinkStatus.EXPIRED
        return "expired"
    if event.kind == "awaiting_payment":
        link.status = LinkStatus.PROCESSING
        _tell(session, link, app_message("payment_voucher_issued"), now)
        return "awaiting_payment"
    link.status = LinkStatus.FAILED
    _tell(session, link, app_message("payment_failed", voseo=config.country(link.account.debtor.country).voseo), now)
    return "failed"


def _mismatch(link: PaymentLink, event: CheckoutEvent) -> str | None:
    """Why an event cannot be about this link's money, if it cannot; None when it agrees.

    A link is one Checkout Session for exactly `link.amount` in `link.currency` (no discounts, taxes or
    adjustable quantities), so a paid event for any other amount or currency is forged or broken, never a
    legitimate partial payment: partial payments are links issued for a smaller amount. A paid event must
    say both; other events are checked on what they carry.
    """
    if event.currency is None:
        return "currency_mismatch" if event.kind == "paid" else None
    if event.currency.upper() != link.currency.upper():
        return "currency_mismatch"
    if event.amount is None:
        return "amount_mismatch" if event.kind == "paid" else None
    if event.amount != link.amount:  # Decimal compares by value: 2000.00 == 2000
        return "amount_mismatch"
    return None


def _refuse_mismatch(session: Session, link: PaymentLink, event: CheckoutEvent, reason: str,
                     now: datetime) -> str:
    """Leave the ledger alone, keep a trace and put a person on it: money may have moved that we cannot apply."""
    session.add(AuditLog(actor=event.provider, action="payment_mismatch", entity_type="payment_link",
                         entity_id=str(link.id),
                         details={"reason": reason, "event_id": event.event_id, "event_type": event.event_type,
                                  "expected_amount": str(link.amount), "expected_currency": link.currency,
                                  "amount": None if event.amount is None else str(event.amount),
                                  "currency": event.currency}))
    _hand_off(session, link, reason, now)
    return reason


def _paid(session: Session, link: PaymentLink, event: CheckoutEvent, now: datetime,
          provider: PaymentProvider) -> str:
    if session.scalars(select(Payment.id).where(Payment.provider_ref == link.provider_session_id)).first():
        return "already_applied"
    account = session.get(Account, link.account_id, with_for_update=True)
    assert account is not None
    amount = link.amount  # _apply checked that the event says exactly this
    applied = apply_payment(session, account, link, amount, event.occurred_at or now, now)
    if applied.settled:
        withdraw_links(session, provider, account.id, now, keep=link)  # nothing is left to pay
    _send_receipt(session, account, link, applied, now)
    return "paid"


@dataclass(frozen=True)
class AppliedPayment:
    payment: Payment
    balance_before: Decimal
    overpaid: Decimal
    forgiven: Decimal
    settled: bool  # this payment paid the account off (a later one on a paid account does not)


def apply_payment(session: Session, account: Account, link: PaymentLink | None, amount: Decimal,
                  paid_at: datetime, now: datetime, *, provider: str = "manual",
                  provider_ref: str | None = None) -> AppliedPayment:
    """Money received: fees, then interest, then principal; installments oldest first; promises kept.

    Without a link, `provider` and `provider_ref` say where it came from (a payment received elsewhere:
    bot.payments.external)."""
    balance_before = account.total
    was_open = account.status is not AccountStatus.PAID
    payment = Payment(account_id=account.id, amount=amount, currency=account.currency,
                      provider=link.provider if link else provider,
                      provider_ref=link.provider_session_id if link else provider_ref,
                      link_id=link.id if link else None, paid_at=paid_at, created_at=now)
    payment.account = account
    session.add(payment)
    remaining = amount
    for component in ("fees", "interest", "principal"):
        taken = min(getattr(account, component), remaining)
        setattr(account, component, getattr(account, component) - taken)
        remaining -= taken
    forgiven = Decimal("0")
    if link is not None and link.purpose == "settlement" and amount >= link.amount and account.total > 0:
        forgiven = account.total  # the agreed discount: the rest of the balance is written off
        account.principal = account.interest = account.fees = Decimal("0")
    if account.total == 0:
        account.status = AccountStatus.PAID
    payment.forgiven, payment.overpaid = forgiven, remaining
    _apply_to_plan(session, account, amount - remaining)
    for promise in session.scalars(select(PromiseToPay).where(PromiseToPay.account_id == account.id,
                                                              PromiseToPay.status == AgreementStatus.PENDING)):
        if promise.amount is None or amount >= promise.amount or account.status is AccountStatus.PAID:
            promise.status = AgreementStatus.KEPT
    if link is not None:
        link.status = LinkStatus.PAID
        link.updated_at = now
    account.updated_at = now
    session.add(AuditLog(actor=payment.provider, action="payment_applied", entity_type="account",
                         entity_id=str(account.id),
                         details={"amount": str(amount), "balance_before": str(balance_before),
                                  "balance_after": str(account.total), "overpaid": str(remaining),
                                  "forgiven": str(forgiven)}))
    session.flush()
    return AppliedPayment(payment, balance_before, remaining, forgiven,
                          settled=was_open and account.status is AccountStatus.PAID)


def _apply_to_plan(session: Session, account: Account, amount: Decimal) -> None:
    plan = session.scalars(select(PaymentPlan).where(PaymentPlan.account_id == account.id,
                                                     PaymentPlan.status == AgreementStatus.PENDING)
                           .order_by(PaymentPlan.id.desc()).limit(1)).first()
    if plan is None:
        return
    left = amount
    for installment in plan.installments:
        if installment.status is not AgreementStatus.PENDING:
            continue
        if account.status is AccountStatus.PAID:
            installment.status = AgreementStatus.KEPT  # the whole balance is paid: nothing more is due
            continue
        taken = min(installment.amount - installment.paid_amount, left)
        installment.paid_amount += taken
        left -= taken
        if installment.paid_amount >= installment.amount:
            installment.status = AgreementStatus.KEPT
    if all(item.status is AgreementStatus.KEPT for item in plan.installments):
        plan.status = AgreementStatus.KEPT


def _conversation(session: Session, link: PaymentLink) -> Conversation | None:
    if link.conversation_id is not None:
        return session.get(Conversation, link.conversation_id)
    return session.scalars(select(Conversation).where(Conversation.debtor_id == link.account.debtor_id)
                           .order_by(Conversation.last_inbound_at.desc().nulls_last(), Conversation.id.desc())
                           .limit(1)).first()


def _tell(session: Session, link: PaymentLink, body: str, now: datetime, template_name: str = "reopen_conversation",
          template_values: dict[str, str] | None = None) -> None:
    conversation = _conversation(session, link)
    if conversation is None:
        session.add(AuditLog(actor="system", action="payment_message_undeliverable", entity_type="payment_link",
                             entity_id=str(link.id), details={"body": body}))
        return
    queue_proactive(session, conversation, body, now, template_name=template_name, template_values=template_values)


def _hand_off(session: Session, link: PaymentLink, reason: str, now: datetime) -> None:
    conversation = _conversation(session, link)
    if conversation is not None:
        request_handoff(session, conversation.sender_id, reason, now, link.account.debtor_id)


def _send_receipt(session: Session, account: Account, link: PaymentLink, applied: AppliedPayment,
                  now: datetime) -> None:
    locale = locale_for_country(account.debtor.country)
    money = lambda amount: format_money(amount, account.currency, locale)  # noqa: E731
    receipt = issue_receipt(session, applied.payment, account, account.total, now)
    parts = [app_message("payment_received", first_name=account.debtor.first_name,
                         amount=money(applied.payment.amount), creditor=account.creditor.name,
                         receipt=receipt_number(applied.payment),
                         receipt_url=document_url(receipt, account, now))]
    if applied.settled:
        letter = issue_settlement_letter(session, account, applied.balance_before,
                                         applied.payment.amount - applied.overpaid, applied.forgiven, now)
        parts.append(app_message("payment_settled", letter_url=document_url(letter, account, now),
                                 days=get_settings().document_link_days,
                                 voseo=config.country(account.debtor.country).voseo))
    else:
        parts.append(app_message("payment_balance_left", balance=money(account.total)))
        upcoming = next_installment(session, account)
        if upcoming is not None:
            parts.append(app_message("payment_next_installment", amount=money(upcoming.amount - upcoming.paid_amount),
                                     date=format_long_date(upcoming.due_date, locale)))
    if applied.overpaid > 0:
        parts.append(app_message("payment_overpaid", extra=money(applied.overpaid)))
        session.add(AuditLog(actor="system", action="overpayment", entity_type="account", entity_id=str(account.id),
                             details={"amount": str(applied.overpaid)}))
    # Outside WhatsApp's 24-hour window only the approved receipt template may go.
    _tell(session, link, "\n".join(parts), now, "payment_received",
          {"amount": money(applied.payment.amount), "receipt": receipt_number(applied.payment)})
    if applied.overpaid > 0:
        _hand_off(session, link, "overpayment", now)

