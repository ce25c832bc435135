"""The one check before any message leaves: may we send this, to this number, now, and how?

Replies to the debtor's own inbound message are exempt from contact hours and frequency caps, never from
an opt-out. On WhatsApp, free text is allowed only within 24 hours of the debtor's last message;
outside it only an approved template may go (Twilio error 63016 otherwise).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.common.phones import InvalidPhone, split_sender_id
from bot.ledger.models import Conversation
from bot.messaging.contact import contact_key, is_opted_out

WHATSAPP_WINDOW = timedelta(hours=24)


class SendVerdict(enum.StrEnum):
    SEND = "send"
    TEMPLATE_ONLY = "template_only"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class SendDecision:
    verdict: SendVerdict
    reason: str = ""


def whatsapp_window_open(conversation: Conversation, now: datetime) -> bool:
    return conversation.last_inbound_at is not None and now - conversation.last_inbound_at < WHATSAPP_WINDOW


def check_outbound(session: Session, conversation: Conversation, now: datetime) -> SendDecision:
    """Whether a message to this conversation may leave now, as free text or only as a template."""
    try:
        channel, e164 = split_sender_id(conversation.sender_id)
    except InvalidPhone:
        return SendDecision(SendVerdict.BLOCKED, "invalid_number")
    if is_opted_out(session, contact_key(channel, e164)):  # the demo's opt-outs are its own (bot.messaging.contact)
        return SendDecision(SendVerdict.BLOCKED, "opted_out")
    if channel == "demo":
        return SendDecision(SendVerdict.SEND)
    if conversation.channel == "whatsapp" and not whatsapp_window_open(conversation, now):
        return SendDecision(SendVerdict.TEMPLATE_ONLY, "whatsapp_window_closed")
    return SendDecision(SendVerdict.SEND)
