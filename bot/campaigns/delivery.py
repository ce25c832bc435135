"""One campaign step for one account, as a worker runs it: at most once, and never lost.

The CampaignSend row (unique per account, campaign, step and day) and its message, already claimed
("sending") when it goes now, are committed together before the provider is called. A worker killed
anywhere leaves either nothing (the queue redelivers the job and it starts again), a queued message (sent
when due), or a claimed one (on redelivery the provider is asked whether it got it before it is sent
again). A second worker with the same job stops at the unique key.
"""
from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.campaigns.cadences import Anchor, Step, campaign
from bot.campaigns.planner import TEMPLATE_DETAILED, TEMPLATE_DISCREET, Job, Planned, Reach, balances, plan
from bot.common import config
from bot.common.copy import app_message
from bot.common.locale import format_long_date, format_money
from bot.ledger.balances import debtor_locale
from bot.ledger.models import (
    Account,
    AgreementStatus,
    AuditLog,
    CampaignSend,
    Conversation,
    Debtor,
    Installment,
    Message,
    MessageStatus,
    PromiseToPay,
)
from bot.messaging.contact_rules import ContactVerdict
from bot.messaging.conversations import get_or_create_conversation
from bot.messaging.outbox import Transport, hand_over, resume_sending, send_one, store_outbound
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
    record = planned.decision.as_record()
    if planned.decision.decision is ContactVerdict.NEVER or planned.reach is None:
        session.add(CampaignSend(campaign=job.campaign, step=job.step, account_id=job.account_id, day=job.day,
                                 decision=record))
        return Outcome.BLOCKED if _committed(session, checkpoint) else Outcome.ALREADY_DONE
    send_now = planned.decision.decision is ContactVerdict.SEND
    # Sent now: stored already claimed, so the one commit below both records it and reserves it for this worker.
    message = _queue_reminder(session, planned, planned.reach, step, now, provider,
                              status=MessageStatus.SENDING if send_now else MessageStatus.QUEUED)
    session.add(CampaignSend(campaign=job.campaign, step=job.step, account_id=job.account_id, day=job.day,
                             message_id=message.id, decision=record))
    if not _committed(session, checkpoint):
        return Outcome.ALREADY_DONE
    if not send_now:
        return Outcome.SCHEDULED
    wait_for_sender(message.conversation.our_address or message.channel)
    sent = hand_over(session, transport, message, now)
    checkpoint()
    return Outcome.SENT if sent else Outcome.FAILED


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
    """The job ran before (a redelivery after a crash): finish what it left."""
    message = session.get(Message, done.message_id) if done.message_id is not None else None
    if message is None:
        return Outcome.ALREADY_DONE
    if message.status is MessageStatus.SENDING:
        wait_for_sender(message.conversation.our_address or message.channel)
        sent = resume_sending(session, transport, message, now)
        checkpoint()
        return Outcome.SENT if sent else Outcome.ALREADY_DONE
    if message.status is MessageStatus.QUEUED and (message.send_after is None or message.send_after <= now):
        return _send(session, transport, message, now, checkpoint, wait_for_sender)
    return Outcome.ALREADY_DONE


def _anchor_facts(session: Session, planned: Planned, step: Step) -> tuple[date, object]:
    """The date and amount the reminder is about."""
    account = planned.account
    if step.anchor is Anchor.INSTALLMENT and planned.job.anchor_id is not None:
        installment = session.get(Installment, planned.job.anchor_id)
        if installment is not None:
            return installment.due_date, installment.amount - installment.paid_amount
    if step.anchor is Anchor.PROMISE and planned.job.anchor_id is not None:
        promise = session.get(PromiseToPay, planned.job.anchor_id)
        if promise is not None:
            return promise.promised_date, promise.amount or balances(session, [account])[account.id]
    return account.due_date, balances(session, [account])[account.id]


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
                    provider: PaymentProvider | None, *, status: MessageStatus) -> Message:
    """The reminder as a queued message in the debtor's conversation, pointed at this account. Only to a
    number the debtor verified does it say the amount and carry a payment link."""
    account, debtor = planned.account, planned.debtor
    creditor = config.creditors().get(account.creditor.code)
    day, amount = _anchor_facts(session, planned, step)
    locale = debtor_locale(debtor)
    conversation = get_or_create_conversation(session, f"{reach.channel}:{reach.e164}")
    link = _payment_link(session, provider, planned, step, conversation, now) if reach.verified else None
    values = {"first_name": debtor.first_name, "date": format_long_date(day, locale),
              "amount": format_money(amount, account.currency, locale), "link": link or ""}  # type: ignore[arg-type]
    detailed = reach.verified and link is not None
    voseo = config.country(debtor.country).voseo
    body = app_message(f"{step.message}_{'detailed' if detailed else 'discreet'}", voseo=voseo, **values)
    if detailed:
        body = f"{body} {app_message('reminder_pay_link', voseo=voseo, link=link)}"
    conversation.focus_account_id = account.id  # an answer to the reminder negotiates this account
    if conversation.debtor_id is None:
        conversation.debtor_id = debtor.id  # whom we wrote to: their contact history counts this message
    if creditor is not None and conversation.our_address is None:
        conversation.our_address = creditor.whatsapp_sender if reach.channel == "whatsapp" else creditor.sms_sender
    template = None
    if reach.channel == "whatsapp" and creditor is not None:
        approved = creditor.templates[TEMPLATE_DETAILED if detailed else TEMPLATE_DISCREET]
        template = {"content_sid": approved.content_sid,
                    "variables": {str(index): values.get(name, "") for index, name in enumerate(approved.variables, 1)}}
    [message] = store_outbound(session, conversation, body, now, status=status, template=template,
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
