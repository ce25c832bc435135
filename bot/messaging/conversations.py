"""Conversations and who answers them: the bot, a queue for humans, an agent, or nobody (closed)."""
from __future__ import annotations

from datetime import datetime

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.common import config
from bot.common.copy import app_message
from bot.common.locale import format_weekday_date, locale_for_country
from bot.common.phones import split_sender_id
from bot.ledger.models import AuditLog, Conversation, ConversationMode, Debtor, Handoff

DEFAULT_COUNTRY = "MX"


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
    """Queue the conversation for a human; the bot stops answering it until a person hands it back.

    Each stay in the queue is a Handoff row (why, when, who took it, how it ended); asking again while
    queued or held by an agent changes nothing.
    """
    conversation = get_or_create_conversation(session, sender_id)
    if debtor_id is not None:
        conversation.debtor_id = debtor_id
    if conversation.mode in (ConversationMode.BOT, ConversationMode.CLOSED):
        conversation.mode = ConversationMode.QUEUED
        conversation.mode_reason = reason
        conversation.queued_at = now
        conversation.assigned_user_id = None
        conversation.updated_at = now
        session.flush()
        session.add(Handoff(conversation_id=conversation.id, reason=reason, requested_at=now))
        session.add(AuditLog(actor="bot", action="handoff_requested", entity_type="conversation",
                             entity_id=str(conversation.id), details={"reason": reason}, at=now))
    session.flush()
    return conversation


def open_handoff(session: Session, conversation: Conversation) -> Handoff | None:
    """The conversation's current stay in the queue, if any."""
    return session.scalars(select(Handoff).where(Handoff.conversation_id == conversation.id,
                                                 Handoff.ended_at.is_(None))
                           .order_by(Handoff.id.desc()).limit(1)).first()


def conversation_country(session: Session, conversation: Conversation) -> str:
    """The debtor's country, else the number's, else the default: whose hours and formats apply."""
    if conversation.debtor_id is not None:
        debtor = session.get(Debtor, conversation.debtor_id)
        if debtor is not None:
            return debtor.country
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(split_sender_id(conversation.sender_id)[1]))
    except Exception:  # noqa: BLE001 - an odd number only loses the country, never the handoff
        region = None
    return region if region in config.countries() else DEFAULT_COUNTRY


def handoff_eta(country_code: str, now: datetime) -> str:
    """When a person will answer, as the debtor reads it: soon within business hours, else when they open."""
    country = config.country(country_code)
    opening = country.next_business_opening(now)
    if opening is None:
        return app_message("handoff_eta_soon")
    local_now = now.astimezone(opening.tzinfo)
    at = opening.strftime("%H:%M")
    days = (opening.date() - local_now.date()).days
    if days == 0:
        return app_message("handoff_eta_today", time=at)
    if days == 1:
        return app_message("handoff_eta_tomorrow", time=at)
    return app_message("handoff_eta_later", day=format_weekday_date(opening.date(), locale_for_country(country_code)),
                       time=at)
