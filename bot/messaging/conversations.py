"""Conversations and who answers them: the bot, a queue for humans, an agent, or nobody (closed)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.common.phones import split_sender_id
from bot.ledger.models import AuditLog, Conversation, ConversationMode


def get_or_create_conversation(session: Session, sender_id: str) -> Conversation:
    """The thread for `<channel>:<E.164>`; created on first contact."""
    channel, e164 = split_sender_id(sender_id)
    canonical = f"{channel}:{e164}"
    conversation = session.scalars(select(Conversation).where(Conversation.sender_id == canonical)).one_or_none()
    if conversation is None:
        conversation = Conversation(channel=channel, sender_id=canonical, mode=ConversationMode.BOT)
        session.add(conversation)
        session.flush()
    return conversation


def request_handoff(session: Session, sender_id: str, reason: str, now: datetime,
                    debtor_id: int | None = None) -> Conversation:
    """Queue the conversation for a human; the bot stops answering it until an agent hands it back."""
    conversation = get_or_create_conversation(session, sender_id)
    if debtor_id is not None:
        conversation.debtor_id = debtor_id
    if conversation.mode in (ConversationMode.BOT, ConversationMode.CLOSED):
        conversation.mode = ConversationMode.QUEUED
        conversation.mode_reason = reason
        conversation.updated_at = now
        session.add(AuditLog(actor="bot", action="handoff_requested", entity_type="conversation",
                             entity_id=str(conversation.id), details={"reason": reason}))
    session.flush()
    return conversation
