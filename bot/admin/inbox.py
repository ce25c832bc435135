"""The NLU inbox: real debtors' messages the model was unsure of, for admins to turn into training examples.

A message lands here when the model sent it to nlu_fallback, scored it below LOW_CONFIDENCE, or a hand-off
to a person followed it within minutes. Nothing personal reaches the admin pages: an answer to an identity
question is never taken, and any run of four or more digits (a document, a card, a phone) is blacked out
before it is stored. Accepting (or relabelling) goes through the same checks as any admin edit.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.admin import tuning
from bot.admin.redaction import REDACTED, is_identity_answer, redact
from bot.admin.training_data import InvalidEdit
from bot.ledger.models import AdminChange, Direction, Handoff, InboxItem, Message

FALLBACK_INTENT = "nlu_fallback"
LOW_CONFIDENCE = 0.6
HANDOFF_WITHIN = timedelta(minutes=3)


class Parser(Protocol):
    def parse(self, text: str) -> tuple[str, float]:
        """The model's intent name and confidence for `text`."""
        ...


def _answers_identity_question(session: Session, message: Message) -> bool:
    asked = session.scalars(select(Message.body).where(
        Message.conversation_id == message.conversation_id, Message.direction == Direction.OUTBOUND,
        Message.id < message.id).order_by(Message.id.desc()).limit(1)).first()
    return is_identity_answer(asked or "", message.body)


def refresh(session: Session, parser: Parser, now: datetime, limit: int = 100,
            max_chars: int = 1000) -> int:
    """Look at inbound messages not looked at yet; returns how many entered the inbox."""
    messages = list(session.scalars(
        select(Message).where(Message.direction == Direction.INBOUND, Message.inbox_checked_at.is_(None),
                              Message.created_at < now - HANDOFF_WITHIN)  # a hand-off that follows has had time
        .order_by(Message.id).limit(limit)))
    added = 0
    for message in messages:
        message.inbox_checked_at = now
        text = message.body.strip()
        if not text or _answers_identity_question(session, message):
            continue
        intent, confidence = parser.parse(text[:max_chars])
        message.intent, message.intent_confidence = intent, confidence  # conversation review searches by it
        handed_off = session.scalar(select(Handoff.id).where(
            Handoff.conversation_id == message.conversation_id, Handoff.requested_at >= message.created_at,
            Handoff.requested_at <= message.created_at + HANDOFF_WITHIN).limit(1)) is not None
        reason = ("fallback" if intent == FALLBACK_INTENT else "low_confidence" if confidence < LOW_CONFIDENCE
                  else "handoff" if handed_off else None)
        if reason is not None:
            session.add(InboxItem(message_id=message.id, text=redact(text), predicted_intent=intent,
                                  confidence=confidence, reason=reason, created_at=now))
            added += 1
    session.flush()
    return added


def waiting(session: Session, intent: str | None = None, limit: int = 200) -> list[InboxItem]:
    query = select(InboxItem).where(InboxItem.status == "waiting").order_by(InboxItem.confidence, InboxItem.id)
    if intent:
        query = query.where(InboxItem.predicted_intent == intent)
    return list(session.scalars(query.limit(limit)))


def waiting_counts(session: Session) -> dict[str, int]:
    return dict(Counter(session.scalars(select(InboxItem.predicted_intent).where(InboxItem.status == "waiting"))))


@dataclass(frozen=True)
class Decision:
    item: InboxItem
    change: AdminChange | None


def _waiting_item(session: Session, item_id: int) -> InboxItem:
    item = session.get(InboxItem, item_id)
    if item is None:
        raise LookupError(item_id)
    if item.status != "waiting":
        raise InvalidEdit("status", "Este mensaje ya fue revisado.")
    return item


def accept(session: Session, user_id: int | None, item_id: int, now: datetime, *, intent: str | None = None,
           text: str | None = None) -> Decision:
    """The message becomes a training example: of the predicted intent (accept) or another (relabel), with the
    admin's annotations. Blacked-out digits never go into the training data."""
    item = _waiting_item(session, item_id)
    label = intent or item.predicted_intent
    if label == FALLBACK_INTENT:
        raise InvalidEdit("intent", "El modelo no supo qué era: elige el intent correcto.")
    example = text if text is not None else item.text
    if REDACTED in example:
        raise InvalidEdit("text", "El mensaje tiene dígitos ocultos: quítalos o escribe un valor de ejemplo antes de "
                                  "entrenar con él.")
    change = tuning.add_example(session, user_id, label, example, now)
    item.status = "accepted" if label == item.predicted_intent else "relabelled"
    item.decided_by, item.decided_at = user_id, now
    return Decision(item, change)


def dismiss(session: Session, user_id: int | None, item_id: int, now: datetime) -> Decision:
    item = _waiting_item(session, item_id)
    item.status, item.decided_by, item.decided_at = "dismissed", user_id, now
    return Decision(item, None)
