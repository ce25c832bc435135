"""Every outbound message is a Message row, and leaves through `send_queued` after the compliance check.

The transport (Twilio's REST API in production) is behind a small protocol so the core does not depend
on it; delivery statuses come back through `record_status`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.common import config
from bot.common.phones import split_sender_id
from bot.ledger.models import Account, AuditLog, Conversation, Debtor, Direction, Message, MessageStatus
from bot.ledger.models import Creditor as CreditorRow
from bot.messaging.compliance import SendVerdict, check_outbound
from bot.messaging.contact import contact_key, opt_out

BODY_LIMIT = 1600  # Twilio's limit per message body
OPTED_OUT_ERROR = "21610"  # Twilio: the recipient replied STOP / is blocked
OUTSIDE_WINDOW_ERROR = "63016"  # Twilio: WhatsApp free text outside the 24-hour window
_DELIVERY_ORDER = ["queued", "sending", "sent", "delivered", "read"]


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
                   template: dict[str, Any] | None = None) -> list[Message]:
    """Outbound rows for `body` (split as the channel needs), stored before anything is sent."""
    messages = []
    for part in (split_body(body) if body else [""]):
        message = Message(conversation_id=conversation.id, direction=Direction.OUTBOUND,
                          channel=conversation.channel, body=part, status=status,
                          in_reply_to_id=in_reply_to.id if in_reply_to else None, template=template,
                          created_at=now, updated_at=now)
        session.add(message)
        messages.append(message)
    session.flush()
    return messages


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
    if decision.verdict is SendVerdict.TEMPLATE_ONLY:
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


def send_queued(session: Session, transport: Transport, now: datetime, limit: int = 100) -> int:
    """Send queued messages in order, each after the compliance check. Returns how many left."""
    queued = list(session.scalars(
        select(Message).where(Message.direction == Direction.OUTBOUND, Message.status == MessageStatus.QUEUED)
        .order_by(Message.id).limit(limit)))
    sent = 0
    for message in queued:
        conversation = message.conversation
        decision = check_outbound(session, conversation, now)
        needs_template = decision.verdict is SendVerdict.TEMPLATE_ONLY and not message.template
        if decision.verdict is SendVerdict.BLOCKED or needs_template:
            message.status = MessageStatus.FAILED
            message.error_code = OPTED_OUT_ERROR if decision.reason == "opted_out" else OUTSIDE_WINDOW_ERROR
            message.updated_at = now
            continue
        taken = session.execute(update(Message).where(Message.id == message.id,
                                                      Message.status == MessageStatus.QUEUED)
                                .values(status=MessageStatus.SENDING).execution_options(synchronize_session=False))
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            continue  # another sender (worker, webhook, agent reply) has it: never sent twice
        channel, e164 = split_sender_id(conversation.sender_id)
        request = OutboundRequest(
            channel=channel, to=f"whatsapp:{e164}" if channel == "whatsapp" else e164,
            from_=conversation.our_address, body=None if message.template else message.body,
            content_sid=(message.template or {}).get("content_sid"),
            content_variables=(message.template or {}).get("variables", {}))
        try:
            message.external_id = transport.send(request)
            message.status = MessageStatus.SENT
            sent += 1
        except TransportError as exc:
            message.status = MessageStatus.FAILED
            message.error_code = exc.code
            if exc.code == OPTED_OUT_ERROR:
                opt_out(session, contact_key(channel, e164), channel, source="twilio_21610")
        message.updated_at = now
    session.flush()
    return sent


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
