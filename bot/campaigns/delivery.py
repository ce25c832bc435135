"""One campaign step for one account, as a worker runs it: at most once, and never lost.

The CampaignSend row (unique per account, campaign, step and day) and its queued message are committed
together; then the worker waits for its sender's rate, asks the compliance check again, claims the message
("sending") and commits before the provider is called. A worker killed anywhere leaves either nothing (the
queue redelivers the job and it starts again), a queued message (sent on redelivery, or by the scheduler
when a deferred one is due), or a claimed one (the provider is asked whether it got it before it is checked
again and sent). A second worker with the same job stops at the unique key.
"""
from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.campaigns.cadences import Anchor, Step, campaign
from bot.campaigns.planner import TEMPLATE_DETAILED, TEMPLATE_DISCREET, Job, Planned, Reach, plan
from bot.common import config
from bot.common.copy import app_message
from bot.common.locale import format_long_date, format_money, zone_for
from bot.ledger.balances import debtor_locale
from bot.ledger.models import (
    Account,
    AccountStatus,
    AgreementStatus,
    AuditLog,
    CampaignSend,
    Conversation,
    Debtor,
    Installment,
    Message,
    MessageStatus,
    PaymentPlan,
    PromiseToPay,
)
from bot.messaging.contact_rules import Block, ContactDecision, ContactVerdict
from bot.messaging.conversations import get_or_create_conversation
from bot.messaging.outbox import BLOCKED_ERROR, Transport, resume_sending, send_one, store_outbound, write_if_unchanged
from bot.payments.links import PaymentProvider, PaymentProviderError, issue_link

log = logging.getLogger(__name__)


class Outcome(enum.StrEnum):
    SENT = "sent"
    SCHEDULED = "scheduled"  # deferred by the contact rules: the outbox sends it at the allowed moment
    BLOCKED = "blocked"  # never: recorded with the reason
    FAILED = "failed"  # the provider refused it (recorded on the message)
    ALREADY_DONE = "already_done"  # this account, step and day were handled before


SenderGate = Callable[[str], None]  # waits until the sender number may send one more (rate per number)


def _no_wait(_sender: str) -> None:
    return None


def deliver(session: Session, transport: Transport, job: Job, now: datetime, *,
            checkpoint: Callable[[], None], wait_for_sender: SenderGate = _no_wait,
            provider: PaymentProvider | None = None) -> Outcome:
    """Run one job. `checkpoint` commits (workers) so each stage survives the worker that wrote it;
    `provider` issues the payment link a reminder to a verified number carries."""
    done = session.scalar(select(CampaignSend).where(
        CampaignSend.account_id == job.account_id, CampaignSend.campaign == job.campaign,
        CampaignSend.step == job.step, CampaignSend.day == job.day))
    if done is not None:
        return _finish(session, transport, done, now, checkpoint, wait_for_sender)
    account = session.get(Account, job.account_id)
    if account is None:
        return Outcome.ALREADY_DONE
    session.get(Debtor, account.debtor_id, with_for_update=True)  # one decision at a time per debtor: caps hold
    step = campaign(job.campaign).step(job.step)
    if step.marks_broken:
        _mark_broken(session, step, job, now)
    planned = next(plan(session, [job], now))
    decision = _for_today(planned, now)
    record = decision.as_record()
    if decision.decision is ContactVerdict.NEVER or planned.reach is None:
        session.add(CampaignSend(campaign=job.campaign, step=job.step, account_id=job.account_id, day=job.day,
                                 anchor_id=job.anchor_id, decision=record))
        return Outcome.BLOCKED if _committed(session, checkpoint) else Outcome.ALREADY_DONE
    message = _queue_reminder(session, planned, planned.reach, step, now, provider)
    session.add(CampaignSend(campaign=job.campaign, step=job.step, account_id=job.account_id, day=job.day,
                             anchor_id=job.anchor_id, message_id=message.id, decision=record))
    if not _committed(session, checkpoint):
        return Outcome.ALREADY_DONE
    if decision.decision is ContactVerdict.DEFER:
        return Outcome.SCHEDULED  # the scheduler enqueues it again when it is due
    return _send(session, transport, message, now, checkpoint, wait_for_sender)


def _for_today(planned: Planned, now: datetime) -> ContactDecision:
    """A reminder is for its day ("hoy vence…"): deferred past it, it is not sent at all."""
    decision = planned.decision
    if decision.decision is not ContactVerdict.DEFER or decision.next_allowed is None:
        return decision
    debtor = planned.debtor
    if decision.next_allowed.astimezone(zone_for(debtor.country, debtor.timezone)).date() <= planned.job.day:
        return decision
    return ContactDecision(ContactVerdict.NEVER, None, f"No queda un momento permitido el día del recordatorio: "
                           f"{decision.reason}", "no_time_today")


def _committed(session: Session, checkpoint: Callable[[], None]) -> bool:
    try:
        checkpoint()
        return True
    except IntegrityError:  # another worker wrote this account, step and day first
        session.rollback()
        return False


def _send(session: Session, transport: Transport, message: Message, now: datetime,
          checkpoint: Callable[[], None], wait_for_sender: SenderGate) -> Outcome:
    wait_for_sender(message.conversation.our_address or message.channel)
    sent = send_one(session, transport, message, now, checkpoint=checkpoint)
    checkpoint()
    if sent:
        return Outcome.SENT
    return Outcome.SCHEDULED if message.status is MessageStatus.QUEUED else Outcome.FAILED


def _finish(session: Session, transport: Transport, done: CampaignSend, now: datetime,
            checkpoint: Callable[[], None], wait_for_sender: SenderGate) -> Outcome:
    """The job ran before: a redelivery after a crash, or a deferred reminder now due. Finish what it left."""
    message = session.get(Message, done.message_id) if done.message_id is not None else None
    if message is None:
        return Outcome.ALREADY_DONE
    if message.status is MessageStatus.SENDING:
        wait_for_sender(message.conversation.our_address or message.channel)
        sent = resume_sending(session, transport, message, now)
        checkpoint()
        return Outcome.SENT if sent else Outcome.ALREADY_DONE
    if message.status is not MessageStatus.QUEUED or (message.send_after is not None and message.send_after > now):
        return Outcome.ALREADY_DONE
    stale = _no_longer_due(session, done, now)
    if stale is not None:
        write_if_unchanged(session, message, status=MessageStatus.FAILED, error_code=BLOCKED_ERROR, updated_at=now,
                           contact_decision=ContactDecision(ContactVerdict.NEVER, None, stale.reason,
                                                            stale.code).as_record())  # not over another's send
        checkpoint()
        return Outcome.BLOCKED
    return _send(session, transport, message, now, checkpoint, wait_for_sender)


def _no_longer_due(session: Session, done: CampaignSend, now: datetime) -> Block | None:
    """Whether a reminder that waited still says something true: its day has not passed, and what it is
    about (the due balance, an installment, a promise) is still owed."""
    account = session.get(Account, done.account_id)
    if account is None or account.status is not AccountStatus.ACTIVE:
        return Block("no_longer_due", "La cuenta ya no está activa.")
    if now.astimezone(zone_for(account.debtor.country, account.debtor.timezone)).date() > done.day:
        return Block("expired", f"El recordatorio era para el {done.day.isoformat()} y ese día ya pasó.")
    anchor = campaign(done.campaign).step(done.step).anchor
    owed = {AgreementStatus.PENDING, AgreementStatus.BROKEN}
    if anchor is Anchor.INSTALLMENT and done.anchor_id is not None:
        installment = session.get(Installment, done.anchor_id)
        if installment is None or installment.status not in owed or installment.paid_amount >= installment.amount:
            return Block("no_longer_due", "La cuota ya se pagó o el plan cambió.")
    elif anchor is Anchor.PROMISE and done.anchor_id is not None:
        promise = session.get(PromiseToPay, done.anchor_id)
        if promise is None or promise.status not in owed:
            return Block("no_longer_due", "La promesa de pago ya se cumplió o cambió.")
    elif anchor is Anchor.DUE_DATE and session.scalar(select(PaymentPlan.id).where(
            PaymentPlan.account_id == account.id, PaymentPlan.status == AgreementStatus.PENDING).limit(1)):
        return Block("no_longer_due", "La cuenta ya tiene un plan de pagos.")
    return None


def _anchor_facts(session: Session, planned: Planned, step: Step) -> tuple[date, Decimal]:
    """The date and amount the reminder is about."""
    account = planned.account
    if step.anchor is Anchor.INSTALLMENT and planned.job.anchor_id is not None:
        installment = session.get(Installment, planned.job.anchor_id)
        if installment is not None:
            return installment.due_date, installment.amount - installment.paid_amount
    if step.anchor is Anchor.PROMISE and planned.job.anchor_id is not None:
        promise = session.get(PromiseToPay, planned.job.anchor_id)
        if promise is not None:
            return promise.promised_date, min(promise.amount, account.total) if promise.amount else account.total
    return account.due_date, account.total  # payments already lowered it (bot.payments.events.apply_payment)


def _payment_link(session: Session, provider: PaymentProvider | None, planned: Planned, step: Step,
                  conversation: Conversation, now: datetime) -> str | None:
    """A link to pay what the reminder is about; None when there is no provider or it cannot issue one now
    (the reminder still goes, and the debtor can ask for a link in the conversation)."""
    if provider is None:
        return None
    installment = (session.get(Installment, planned.job.anchor_id)
                   if step.anchor is Anchor.INSTALLMENT and planned.job.anchor_id is not None else None)
    try:
        issued = issue_link(session, provider, planned.account, "installment" if installment else "full", now,
                            installment=installment, conversation=conversation, created_by="campaign")
    except (PaymentProviderError, ValueError):
        log.warning("no payment link for account %s (%s)", planned.account.id, planned.job, exc_info=True)
        return None
    return issued.url


def _queue_reminder(session: Session, planned: Planned, reach: Reach, step: Step, now: datetime,
                    provider: PaymentProvider | None) -> Message:
    """The reminder as a queued message in the debtor's conversation, pointed at this account. Only to a
    number the debtor verified does it say the amount and carry a payment link."""
    account, debtor = planned.account, planned.debtor
    creditor = config.creditors().get(account.creditor.code)
    day, amount = _anchor_facts(session, planned, step)
    locale = debtor_locale(debtor)
    conversation = get_or_create_conversation(session, f"{reach.channel}:{reach.e164}")
    link = _payment_link(session, provider, planned, step, conversation, now) if reach.verified else None
    values = {"first_name": debtor.first_name, "date": format_long_date(day, locale),
              "amount": format_money(amount, account.currency, locale), "link": link or ""}
    detailed = reach.verified and link is not None
    voseo = config.country(debtor.country).voseo
    body = app_message(f"{step.message}_{'detailed' if detailed else 'discreet'}", voseo=voseo, **values)
    if detailed:
        body = f"{body} {app_message('reminder_pay_link', voseo=voseo, link=link)}"
    if creditor is not None and conversation.our_address is None:
        conversation.our_address = creditor.whatsapp_sender if reach.channel == "whatsapp" else creditor.sms_sender
    template = None
    if reach.channel == "whatsapp" and creditor is not None:
        approved = creditor.templates[TEMPLATE_DETAILED if detailed else TEMPLATE_DISCREET]
        template = {"content_sid": approved.content_sid,
                    "variables": {str(index): values.get(name, "") for index, name in enumerate(approved.variables, 1)}}
    [message] = store_outbound(session, conversation, body, now, status=MessageStatus.QUEUED, template=template,
                               contact_decision=planned.decision.as_record(), send_after=planned.decision.next_allowed)
    return message


def _mark_broken(session: Session, step: Step, job: Job, now: datetime) -> None:
    """The day after a missed installment or promise: it is broken (the reminder says how to get back on track)."""
    target: Installment | PromiseToPay | None = None
    if step.anchor is Anchor.INSTALLMENT and job.anchor_id is not None:
        installment = session.get(Installment, job.anchor_id)
        if installment is not None and installment.paid_amount < installment.amount:
            target = installment
    elif step.anchor is Anchor.PROMISE and job.anchor_id is not None:
        target = session.get(PromiseToPay, job.anchor_id)
    if target is None or target.status is not AgreementStatus.PENDING:
        return
    target.status = AgreementStatus.BROKEN
    session.add(AuditLog(actor="system", action="agreement_broken",
                         entity_type=type(target).__tablename__, entity_id=str(target.id),
                         details={"campaign": job.campaign, "step": job.step}, at=now))
