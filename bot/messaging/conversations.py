"""Conversations and who answers them: the bot, a queue for humans, an agent, or nobody (closed)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import phonenumbers
from babel.dates import get_day_names
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.common import config
from bot.common.copy import app_message
from bot.common.locale import format_weekday_date, join_spanish, local_today, locale_for_country
from bot.common.parsing import parse_amount, parse_date
from bot.common.phones import split_sender_id
from bot.ledger.models import AuditLog, Conversation, ConversationMode, Debtor, Handoff, Message

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
                    debtor_id: int | None = None, facts: dict[str, str] | None = None) -> Conversation:
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
        session.add(Handoff(conversation_id=conversation.id, reason=reason, requested_at=now,
                            facts=[facts] if facts else []))
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


def uses_voseo(session: Session, conversation: Conversation) -> bool:
    """Whether this debtor is answered with "vos" (Argentina), like the dialogue's `voseo` slot."""
    return config.country(conversation_country(session, conversation)).voseo


def business_hours_text(country_code: str) -> str:
    """When the country's agents answer, as a sentence part: 'de lunes a viernes, de 09:00 a 19:00 y el sábado,
    de 09:00 a 14:00' (config/countries.yml business_hours; day names from Babel)."""
    country = config.country(country_code)
    names = get_day_names("wide", locale=locale_for_country(country_code))
    parts = []
    for days, (opens, closes) in country.business_hours.items():
        first, _, last = days.partition("-")
        index = config.weekday_index
        hours = {"open": opens.strftime("%H:%M"), "close": closes.strftime("%H:%M")}
        if last:
            parts.append(app_message("hours_days", first=names[index(first)], last=names[index(last)], **hours))
        else:
            parts.append(app_message("hours_day", day=names[index(first)], **hours))
    return join_spanish(parts) if parts else app_message("hours_always")


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


def _reported_day(text: str, today: date) -> date | None:
    """A day the debtor says something happened ("fue el 12", "el viernes"): the latest such day up to today."""
    day = parse_date(text, today)
    if day is None or day <= today:
        return day
    if (day - today).days <= 7:  # a weekday: last week's
        return day - timedelta(days=7)
    previous = day.replace(day=1) - timedelta(days=1)  # a day of the month: last month's
    return previous.replace(day=min(day.day, previous.day))


def note_reported_facts(session: Session, conversation: Conversation, message: Message, now: datetime) -> None:
    """What a debtor waiting for a person sends (a date, an amount, a receipt photo) goes on the open hand-off,
    so the person sees it at a glance instead of digging through the transcript."""
    handoff = open_handoff(session, conversation)
    if handoff is None:
        return
    text = message.body or ""
    country = conversation_country(session, conversation)
    amount = parse_amount(text)
    day = _reported_day(text, local_today(country, None, now))
    attachments = len((message.media or {}).get("items", []))
    if amount is None and day is None and not attachments:
        return
    handoff.facts = [*handoff.facts, {"message_id": message.id, "amount": str(amount) if amount is not None else None,
                                      "date": day.isoformat() if day else None, "attachments": attachments}]
