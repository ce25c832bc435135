"""Every outbound message is a Message row, and leaves through `send_queued` after the compliance check.

The transport (Twilio's REST API in production) is behind a small protocol so the core does not depend
on it; delivery statuses come back through `record_status`.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import Select, Table, bindparam, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, contains_eager
from sqlalchemy.orm.attributes import set_committed_value

from bot.common import config
from bot.common.phones import split_sender_id
from bot.ledger.models import (
    Account,
    AuditLog,
    CampaignSend,
    Conversation,
    Debtor,
    Direction,
    Message,
    MessageStatus,
)
from bot.ledger.models import Creditor as CreditorRow
from bot.messaging.compliance import check_outbound, outreach_decision
from bot.messaging.contact import contact_key, opt_out
from bot.messaging.contact_rules import ContactDecision, ContactVerdict

log = logging.getLogger(__name__)
BODY_LIMIT = 1600  # Twilio's limit per message body
OPTED_OUT_ERROR = "21610"  # Twilio: the recipient replied STOP / is blocked
OUTSIDE_WINDOW_ERROR = "63016"  # Twilio: WhatsApp free text outside the 24-hour window
BLOCKED_ERROR = "blocked"  # ours: the contact rules said never (why: the message's contact_decision)
_DELIVERY_ORDER = ["queued", "sending", "sent", "delivered", "read"]
_messages = cast(Table, Message.__table__)
# A send's two writes, built once: the claim (only a queued message: whoever claims it first sends it) and the
# provider's answer.
_CLAIM = (update(_messages).where(_messages.c.id.in_(bindparam("message_ids", expanding=True)),
                                      _messages.c.status == MessageStatus.QUEUED)
              .values(status=MessageStatus.SENDING, updated_at=bindparam("at", type_=_messages.c.updated_at.type))
              .returning(_messages.c.id))  # only queued ones: whoever claims a message first sends it
_UNCLAIM = (update(_messages).where(_messages.c.id.in_(bindparam("message_ids", expanding=True)),
                                    _messages.c.status == MessageStatus.SENDING)
            .values(status=MessageStatus.QUEUED))
_INSERT_MESSAGE = insert(_messages)  # the table's, not the entity's: Core's executemany, no ORM bulk bookkeeping
_RECORD_SENT = (update(_messages).where(_messages.c.id == bindparam("message_id"))
                .values(external_id=bindparam("sid", type_=_messages.c.external_id.type), status=MessageStatus.SENT,
                        sent_at=bindparam("at", type_=_messages.c.sent_at.type),
                        updated_at=bindparam("at", type_=_messages.c.updated_at.type)))


@dataclass(frozen=True)
class OutboundRequest:
    channel: str
    to: str  # "whatsapp:+52…" or "+52…"
    from_: str | None
    body: str | None = None
    content_sid: str | None = None
    content_variables: dict[str, str] = field(default_factory=dict)


class TransportError(RuntimeError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class Transport(Protocol):
    def send(self, request: OutboundRequest) -> str:
        """Hand the message over; returns the provider's message id. Raises TransportError."""
        ...

    def find_sent(self, request: OutboundRequest, since: datetime) -> list[str]:
        """The provider's ids of messages like `request` (same recipient and sender; same body when it is free
        text) accepted since `since`, newest first: a sender that died between handing a message over and
        writing down the answer asks this before sending it again."""
        ...


def split_body(body: str, limit: int = BODY_LIMIT) -> list[str]:
    """Split at word boundaries into parts of at most `limit` characters (a word longer than that is cut)."""
    text = body.strip()
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


def store_outbound(session: Session, conversation: Conversation, body: str, now: datetime, *,
                   status: MessageStatus, in_reply_to: Message | None = None,
                   template: dict[str, Any] | None = None, contact_decision: dict[str, Any] | None = None,
                   send_after: datetime | None = None) -> list[Message]:
    """Outbound rows for `body` (split as the channel needs), stored before anything is sent. An automated
    contact carries the contact rules' answer (`contact_decision`) and, when deferred, `send_after`."""
    messages = []
    for part in _parts(body):
        message = Message(conversation_id=conversation.id, direction=Direction.OUTBOUND,
                          channel=conversation.channel, body=part, status=status,
                          in_reply_to_id=in_reply_to.id if in_reply_to else None, template=template,
                          contact_decision=contact_decision, send_after=send_after, created_at=now, updated_at=now)
        session.add(message)
        messages.append(message)
    session.flush()
    return messages


def _parts(body: str) -> list[str]:
    return split_body(body) if body else [""]


def store_replies(session: Session, reply_to: int, conversation_id: int, channel: str, replies: list[str],
                  now: datetime, *, status: MessageStatus) -> list[str]:
    """`store_outbound` for the bot's replies to one inbound message, as one insert built once and no objects (a
    turn's hot path: the unit of work, and then the ORM's bulk insert, cost a message more CPU than its SQL). The
    parts stored, in order."""
    parts = [part for reply in replies for part in _parts(reply)]
    if parts:
        session.execute(_INSERT_MESSAGE, [
            {"conversation_id": conversation_id, "direction": Direction.OUTBOUND, "channel": channel, "body": part,
             "status": status, "in_reply_to_id": reply_to, "created_at": now, "updated_at": now}
            for part in parts])
    return parts


def creditor_config_for(session: Session, conversation: Conversation) -> config.CreditorConfig | None:
    if conversation.debtor_id is None:
        return None
    code = session.scalar(select(CreditorRow.code).join(Account).where(Account.debtor_id == conversation.debtor_id)
                          .order_by(Account.id).limit(1))
    return config.creditors().get(code or "")


def queue_proactive(session: Session, conversation: Conversation, body: str, now: datetime, *,
                    template_name: str = "reopen_conversation",
                    template_values: dict[str, str] | None = None) -> list[Message]:
    """A message the debtor did not just ask for (agent reply, receipt, reminder): queued for the sender.

    Outside the WhatsApp window it becomes the creditor's approved template `template_name` (else the
    re-opening one), filled from `template_values` and the debtor's first name; if none is configured it
    is stored as failed with the reason, never silently dropped.
    """
    decision = check_outbound(session, conversation, now)
    if decision.template_only:
        creditor = creditor_config_for(session, conversation)
        template = (creditor.templates.get(template_name) or creditor.templates.get("reopen_conversation")
                    if creditor else None)
        if template is None:
            failed = store_outbound(session, conversation, body, now, status=MessageStatus.FAILED)
            for message in failed:
                message.error_code = OUTSIDE_WINDOW_ERROR
            return failed
        debtor = session.get(Debtor, conversation.debtor_id) if conversation.debtor_id else None
        values = {"first_name": debtor.first_name if debtor else "", **(template_values or {})}
        variables = {str(index): values.get(name, "") for index, name in enumerate(template.variables, 1)}
        return store_outbound(session, conversation, body, now, status=MessageStatus.QUEUED,
                              template={"content_sid": template.content_sid, "variables": variables})
    return store_outbound(session, conversation, body, now, status=MessageStatus.QUEUED)


STALE_SENDING = timedelta(minutes=5)  # a message "sending" this long lost its sender (killed, dead-lettered)


def send_queued(session: Session, transport: Transport, now: datetime, limit: int = 100,
                checkpoint: Callable[[], None] | None = None,
                hold: Callable[[str], AbstractContextManager[None]] | None = None) -> int:
    """Send queued replies in order, each after the compliance check, and finish what dead senders left
    "sending". Returns how many left. Reminders (messages with a contact decision) are the campaign workers'
    (bot.campaigns.delivery), which keep the rate per sender and know whether a reminder is still due.
    `checkpoint` commits each claim before the provider is called (a crash then never sends twice); `hold`
    (Gateway.sending) is held while one conversation's replies go, as reply threads hold it: claims keep a
    reply from leaving twice, the lock keeps two of one conversation from leaving side by side."""
    by_conversation: dict[str, list[Message]] = {}
    for message in session.scalars(_queued_replies().limit(limit)):
        by_conversation.setdefault(message.conversation.sender_id, []).append(message)
    sent = 0
    for sender_id, messages in by_conversation.items():
        with hold(sender_id) if hold is not None else nullcontext():
            sent += sum(send_one(session, transport, message, now, checkpoint) for message in messages)
    stale = list(session.scalars(
        select(Message).where(Message.direction == Direction.OUTBOUND, Message.status == MessageStatus.SENDING,
                              Message.updated_at < now - STALE_SENDING)
        .order_by(Message.id).limit(limit)))
    for message in stale:
        sent += resume_sending(session, transport, message, now)
        if checkpoint is not None:
            checkpoint()
    return sent


def send_replies_of(session: Session, transport: Transport, sender_id: str, now: datetime,
                    checkpoint: Callable[[], None] | None = None) -> int:
    """Send one conversation's queued replies, in order (REST mode, right after the dialogue answered): a burst
    of debtors does not have every reply thread walk the whole outbox. Returns how many left.

    A turn's replies are claimed in one statement and one `checkpoint` (issue 23: a claim and a commit each, a
    reply). Each provider's id is written, and `checkpoint`ed, before the next reply leaves: its status callbacks
    may come at any moment and find it. A send that fails without an answer (the network) leaves that reply
    "sending", for `resume_sending`, which asks the provider first, and gives the ones not tried back to the
    queue before it raises; a sender killed midway leaves them all "sending"."""
    queued = list(session.scalars(_queued_replies().join(Message.conversation).options(
        contains_eager(Message.conversation)).where(Conversation.sender_id == sender_id)))  # and the conversation
    leaving = [message for message in queued if _may_leave(session, message, now)]
    if not leaving:
        return 0
    taken = set(session.scalars(_CLAIM, {"message_ids": [message.id for message in leaving], "at": now}))
    unsent = [message for message in leaving if message.id in taken]  # others: another sender has them
    for message in unsent:
        _written(message, status=MessageStatus.SENDING, updated_at=now)
    if checkpoint is not None and unsent:
        checkpoint()
    sent = 0
    try:
        while unsent:
            message = unsent.pop(0)  # if its send raises, it stays "sending": the provider may have it
            sid = _send(session, transport, message, now)
            if sid is not None:
                _record_sent(session, message, sid, now)
                sent += 1
            if checkpoint is not None and unsent:
                checkpoint()
    except Exception:
        _give_back(session, unsent, checkpoint)
        raise
    return sent


def _give_back(session: Session, claimed: list[Message], checkpoint: Callable[[], None] | None) -> None:
    """Claimed replies that did not leave, queued again (if still ours), so the next pass sends them in seconds."""
    if not claimed:
        return
    try:
        session.execute(_UNCLAIM, {"message_ids": [message.id for message in claimed]})
        if checkpoint is not None:
            checkpoint()
    except SQLAlchemyError:  # the database is what failed: they stay "sending", for `resume_sending`
        log.warning("could not queue %d claimed replies again", len(claimed), exc_info=True)


def _queued_replies() -> Select[tuple[Message]]:
    return (select(Message).where(Message.direction == Direction.OUTBOUND, Message.status == MessageStatus.QUEUED,
                                  Message.contact_decision.is_(None)).order_by(Message.id))


def _decision_for(session: Session, message: Message, now: datetime) -> ContactDecision:
    """A reply's check; for an automated contact (a reminder) also the contact rules, again, as it leaves."""
    if message.contact_decision is None:  # the bot's reply to the debtor's message, or a person's
        return check_outbound(session, message.conversation, now, answering=message.in_reply_to_id)
    reply = check_outbound(session, message.conversation, now)
    if reply.decision is ContactVerdict.NEVER:
        return reply
    account_id = session.scalar(select(CampaignSend.account_id).where(CampaignSend.message_id == message.id))
    account = session.get(Account, account_id) if account_id is not None else None
    if account is None:
        return reply
    _, e164 = split_sender_id(message.conversation.sender_id)
    return outreach_decision(session, account, e164, message.channel, now, exclude_message_id=message.id)


def outbound_request(message: Message) -> OutboundRequest:
    channel, e164 = split_sender_id(message.conversation.sender_id)
    return OutboundRequest(
        channel=channel, to=f"whatsapp:{e164}" if channel == "whatsapp" else e164,
        from_=message.conversation.our_address, body=None if message.template else message.body,
        content_sid=(message.template or {}).get("content_sid"),
        content_variables=(message.template or {}).get("variables", {}))


def _may_leave(session: Session, message: Message, now: datetime) -> bool:
    """Ask the compliance check again and write its answer on the message; True if it may go now."""
    decision = _decision_for(session, message, now)
    record = {"contact_decision": decision.as_record()} if message.contact_decision is not None else {}
    if decision.decision is ContactVerdict.NEVER or (decision.template_only and not message.template):
        write_if_unchanged(session, message, status=MessageStatus.FAILED, updated_at=now, **record, error_code={
            "opted_out": OPTED_OUT_ERROR, "whatsapp_window_closed": OUTSIDE_WINDOW_ERROR}.get(decision.code,
                                                                                           BLOCKED_ERROR))
        return False
    if decision.decision is ContactVerdict.DEFER:
        write_if_unchanged(session, message, status=MessageStatus.QUEUED, send_after=decision.next_allowed,
                           updated_at=now, **record)
        return False
    if record:
        message.contact_decision = record["contact_decision"]
    return True


def write_if_unchanged(session: Session, message: Message, **values: Any) -> None:
    """A held-back message's new status, written only if nobody changed its status since it was loaded: a sender
    that read the outbox before another sent the message must not write "failed" over "sent"."""
    written = session.execute(update(_messages).where(_messages.c.id == message.id,
                                                      _messages.c.status == message.status).values(**values))
    if written.rowcount == 1:  # type: ignore[attr-defined]
        _written(message, **values)


def send_one(session: Session, transport: Transport, message: Message, now: datetime,
             checkpoint: Callable[[], None] | None = None) -> bool:
    """Check, claim and hand over one queued message. True when it left now.

    `checkpoint` (a commit) runs once the message is claimed, before the provider is called: a sender killed
    after that leaves it "sending", and whoever finds it asks the provider (`resume_sending`) instead of
    sending it twice.
    """
    if not _may_leave(session, message, now):
        return False
    if not session.scalars(_CLAIM, {"message_ids": [message.id], "at": now}).first():
        return False  # another sender (worker, webhook, agent reply) has it: never sent twice
    _written(message, status=MessageStatus.SENDING, updated_at=now)
    if checkpoint is not None:
        checkpoint()
    return hand_over(session, transport, message, now)


def resume_sending(session: Session, transport: Transport, message: Message, now: datetime) -> bool:
    """A message a dead sender had claimed: written down if the provider got it; else checked again (the
    debtor may have opted out, the hour passed) and sent."""
    candidates = transport.find_sent(outbound_request(message), since=message.updated_at - timedelta(minutes=1))
    known = set(session.scalars(select(Message.external_id).where(Message.external_id.in_(candidates))))
    found = next((sid for sid in candidates if sid not in known), None)  # one of ours already recorded is not it
    if found is not None:
        message.external_id, message.status, message.sent_at, message.updated_at = found, MessageStatus.SENT, now, now
        return False
    if not _may_leave(session, message, now):
        return False
    return hand_over(session, transport, message, now)


def hand_over(session: Session, transport: Transport, message: Message, now: datetime) -> bool:
    """Give a claimed ("sending") message to the provider and write down its answer."""
    sid = _send(session, transport, message, now)
    if sid is None:
        return False
    _record_sent(session, message, sid, now)
    return True


def _send(session: Session, transport: Transport, message: Message, now: datetime) -> str | None:
    """The provider's id for a claimed message; None when it refused, written on the message (an opted-out
    number is recorded as such)."""
    try:
        return transport.send(outbound_request(message))
    except TransportError as exc:
        message.status = MessageStatus.FAILED
        message.error_code = exc.code
        if exc.code == OPTED_OUT_ERROR:
            channel, e164 = split_sender_id(message.conversation.sender_id)
            opt_out(session, contact_key(channel, e164), channel, source="twilio_21610")
        message.updated_at = now
        return None


def _record_sent(session: Session, message: Message, sid: str, now: datetime) -> None:
    session.execute(_RECORD_SENT, {"message_id": message.id, "sid": sid, "at": now})
    _written(message, external_id=sid, status=MessageStatus.SENT, sent_at=now, updated_at=now)


def _written(message: Message, **values: Any) -> None:
    """What a prebuilt statement just wrote, on the loaded row too, without marking it changed: the unit of work
    would write it again (a send's hot path: the flush cost more CPU than the statement)."""
    for name, value in values.items():
        set_committed_value(message, name, value)


def record_status(session: Session, message_sid: str, status: str, error_code: str | None,
                  now: datetime) -> Message | None:
    """A Twilio status callback. Statuses only move forward; failures record their error code."""
    message = session.scalars(select(Message).where(Message.external_id == message_sid)).one_or_none()
    if message is None:
        return None
    status = status.lower()
    if status in ("failed", "undelivered"):
        message.status = MessageStatus(status)
        message.error_code = error_code
        if error_code == OPTED_OUT_ERROR:
            channel, e164 = split_sender_id(message.conversation.sender_id)
            opt_out(session, contact_key(channel, e164), channel, source="twilio_21610")
    elif status in _DELIVERY_ORDER:
        current = message.status.value
        if current not in _DELIVERY_ORDER or _DELIVERY_ORDER.index(status) > _DELIVERY_ORDER.index(current):
            message.status = MessageStatus(status)
    else:
        return message
    message.updated_at = now
    session.add(AuditLog(actor="twilio", action="message_status", entity_type="message",
                         entity_id=str(message.id), details={"status": status, "error_code": error_code}))
    return message
