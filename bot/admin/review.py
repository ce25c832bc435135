"""Conversation review: admins find transcripts by outcome, intent, hand-off reason and country, and mark a bot
turn as wrong with the answer it should have given; the mark becomes a test story for `rasa test`.

The story is Rasa's own record of the conversation (the tracker's events since its last restart: the debtor's
words with the intent and entities the model read, the actions, the slots, the forms) up to the marked turn,
which is replaced by the intended answer. `rasa test` then fails on it until a model learns it, which is the
point. Nothing personal reaches the page or the story: runs of four or more digits are blacked out in the
transcript and written as 1234 in the story, an answer to an identity question is never shown, and the
debtor's name and identity answer slots are replaced by samples.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import yaml
from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.orm import Session

from bot.admin.redaction import is_identity_answer, redact
from bot.admin.training_data import InvalidEdit, locked
from bot.ledger.models import (
    Account,
    Conversation,
    Debtor,
    Direction,
    Handoff,
    Message,
    PaymentLink,
    PaymentPlan,
    PromiseToPay,
)

OUTCOMES = ("plan", "promise", "payment_link", "handoff", "none")
SKIPPED_ACTIONS = {"action_listen", "action_session_start"}
SAMPLE_SLOTS = {"identity_answer": "1234", "debtor_first_name": "Ana"}  # never a real debtor's, in a test file
STORY_DIGITS = "1234"
REDACTED_ANSWER = "▮▮▮▮ (respuesta de verificación)"


class TrackerSource(Protocol):
    def events(self, sender_id: str) -> list[dict[str, Any]]:
        """The tracker's events since its last restart."""
        ...


@dataclass(frozen=True)
class Filters:
    outcome: str | None = None
    intent: str | None = None
    handoff_reason: str | None = None
    country: str | None = None


@dataclass
class Summary:
    id: int
    channel: str
    country: str | None
    started_at: datetime
    last_at: datetime | None
    messages: int
    outcomes: list[str] = field(default_factory=list)
    handoff_reasons: list[str] = field(default_factory=list)
    intents: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Turn:
    message_id: int
    direction: str
    text: str
    at: datetime
    intent: str | None
    confidence: float | None


def _outcome_condition(outcome: str) -> ColumnElement[bool]:
    by_bot_since_start = {
        "plan": exists(select(PaymentPlan.id).join(Account, Account.id == PaymentPlan.account_id).where(
            Account.debtor_id == Conversation.debtor_id, PaymentPlan.created_by == "bot",
            PaymentPlan.created_at >= Conversation.created_at)),
        "promise": exists(select(PromiseToPay.id).join(Account, Account.id == PromiseToPay.account_id).where(
            Account.debtor_id == Conversation.debtor_id, PromiseToPay.created_by == "bot",
            PromiseToPay.created_at >= Conversation.created_at)),
        "payment_link": exists(select(PaymentLink.id).where(PaymentLink.conversation_id == Conversation.id)),
        "handoff": exists(select(Handoff.id).where(Handoff.conversation_id == Conversation.id)),
    }
    if outcome == "none":
        return and_(*(~condition for condition in by_bot_since_start.values()))
    return by_bot_since_start[outcome]


def search(session: Session, filters: Filters, scope: ColumnElement[bool], limit: int = 50) -> list[Summary]:
    """Conversations matching every filter given, the most recent first; `scope` is the reader's
    (bot.agents.access.in_scope)."""
    if filters.outcome is not None and filters.outcome not in OUTCOMES:
        raise InvalidEdit("outcome", f"Resultado desconocido: {filters.outcome} (hay: {', '.join(OUTCOMES)}).")
    query = (select(Conversation, Debtor.country).outerjoin(Debtor, Debtor.id == Conversation.debtor_id)
             .where(scope).order_by(Conversation.updated_at.desc(), Conversation.id.desc()).limit(limit))
    if filters.country:
        query = query.where(Debtor.country == filters.country.upper())
    if filters.intent:
        query = query.where(exists(select(Message.id).where(Message.conversation_id == Conversation.id,
                                                            Message.intent == filters.intent)))
    if filters.handoff_reason:
        query = query.where(exists(select(Handoff.id).where(Handoff.conversation_id == Conversation.id,
                                                            Handoff.reason == filters.handoff_reason)))
    if filters.outcome:
        query = query.where(_outcome_condition(filters.outcome))
    found = [Summary(conversation.id, conversation.channel, country, conversation.created_at,
                     conversation.last_inbound_at, 0) for conversation, country in session.execute(query)]
    for summary in found:
        summary.messages = session.scalar(select(func.count(Message.id)).where(
            Message.conversation_id == summary.id)) or 0
        summary.handoff_reasons = sorted(set(session.scalars(select(Handoff.reason).where(
            Handoff.conversation_id == summary.id))))
        summary.intents = sorted(set(session.scalars(select(Message.intent).where(
            Message.conversation_id == summary.id, Message.intent.is_not(None)))))
        summary.outcomes = [outcome for outcome in OUTCOMES[:-1] if session.scalar(
            select(Conversation.id).where(Conversation.id == summary.id, _outcome_condition(outcome)))]
    return found


def transcript(session: Session, conversation: Conversation) -> list[Turn]:
    """The conversation as the review page shows it: digits blacked out, identity answers hidden."""
    turns, last_asked = [], ""
    for message in session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                                   .order_by(Message.id)):
        if message.direction is Direction.OUTBOUND:
            last_asked = message.body
            text = redact(message.body)
        elif is_identity_answer(last_asked, message.body):
            text = REDACTED_ANSWER
        else:
            text = redact(message.body) or ("[adjunto]" if message.media else "")
        turns.append(Turn(message.id, message.direction.value, text, message.created_at, message.intent,
                          message.intent_confidence))
    return turns


# --- test stories --------------------------------------------------------------------------------------

def _story_text(text: str) -> str:
    return redact(text, STORY_DIGITS)


def _user_step(event: dict[str, Any], answers_identity: bool) -> dict[str, Any]:
    parse = event.get("parse_data") or {}
    intent = str((parse.get("intent") or {}).get("name") or "nlu_fallback")
    text = str(event.get("text") or "")
    if text.startswith("/") or answers_identity:  # the gateway's own intents, or words that must not be kept
        return {"intent": intent}
    annotated, cursor = [], 0
    for entity in sorted(parse.get("entities") or [], key=lambda e: e.get("start", 0)):
        start, end = entity.get("start"), entity.get("end")
        if not isinstance(start, int) or not isinstance(end, int) or start < cursor or end > len(text):
            continue
        annotated += [_story_text(text[cursor:start]), f"[{_story_text(text[start:end])}]({entity['entity']})"]
        cursor = end
    annotated.append(_story_text(text[cursor:]))
    return {"user": "".join(annotated), "intent": intent}


def _slot_value(name: str, value: Any) -> Any:
    """A slot as a test file may keep it: the debtor's answer and name replaced, digits blacked out."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if name in SAMPLE_SLOTS:
        return SAMPLE_SLOTS[name]
    if isinstance(value, str):
        return redact(value, STORY_DIGITS)
    return yaml.safe_load(redact(yaml.safe_dump(value, allow_unicode=True), STORY_DIGITS))


def story_steps(events: list[dict[str, Any]], marked_text: str, marked_before: float,
                intended: str) -> list[dict[str, Any]]:
    """The tracker's story of the session up to the action that said `marked_text` (the last time it said it
    before `marked_before`), with `intended` in its place. Slots the session started with (a returning debtor
    already verified) are set right after the first message, before anything is predicted."""
    bot_index = max((index for index, event in enumerate(events)
                     if event.get("event") == "bot" and str(event.get("text") or "").strip() == marked_text.strip()
                     and float(event.get("timestamp") or 0) <= marked_before), default=None)
    if bot_index is None:
        raise InvalidEdit("message", "Este turno ya no está en la memoria del bot (se reinició o pasaron días): "
                                     "no se puede convertir en historia de prueba.")
    action_index = max((index for index, event in enumerate(events[:bot_index])
                        if event.get("event") == "action" and event.get("name") not in SKIPPED_ACTIONS),
                       default=None)
    session = max((index for index, event in enumerate(events[:action_index])
                   if event.get("event") == "session_started"), default=-1) + 1
    first_user = next((index for index in range(session, len(events)) if events[index].get("event") == "user"), None)
    if action_index is None or first_user is None or first_user > action_index:
        raise InvalidEdit("message", "Este turno no responde a un mensaje del deudor.")
    started_with = {str(event["name"]): event.get("value") for event in events[session:first_user]
                    if event.get("event") == "slot"}
    steps: list[dict[str, Any]] = []
    last_bot, asking_identity = "", False
    for event in events[first_user:action_index]:
        kind = event.get("event")
        if kind == "bot":
            last_bot = str(event.get("text") or "")
        elif kind == "user":
            answers = asking_identity or is_identity_answer(last_bot, str(event.get("text") or ""))
            steps.append(_user_step(event, answers))
            if started_with:
                steps += [{"slot_was_set": [{name: _slot_value(name, value)}]} for name, value in started_with.items()]
                started_with = {}
        elif kind == "action" and event.get("name") not in SKIPPED_ACTIONS:
            steps.append({"action": event["name"]})
        elif kind == "slot":
            name = str(event["name"])
            if name == "requested_slot":
                asking_identity = event.get("value") == "identity_answer"
            steps.append({"slot_was_set": [{name: _slot_value(name, event.get("value"))}]})
        elif kind == "active_loop":
            steps.append({"active_loop": event.get("name")})
            if event.get("name") is None:
                asking_identity = False
    steps.append({"action": intended})
    return steps


@dataclass(frozen=True)
class ReviewStory:
    name: str
    file: Path
    steps: list[dict[str, Any]]

    @property
    def text(self) -> str:
        return yaml.safe_dump([{"story": self.name, "steps": self.steps}], allow_unicode=True, sort_keys=False,
                              width=1000)


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    return data if isinstance(data, dict) else {"version": "3.1", "stories": []}


def _dump(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ("# Test stories from conversation review (the admin area writes this file): each is a real conversation\n"
              "# up to a bot turn marked wrong, ending with the answer it should have given. `rasa test` reads it.\n")
    path.write_text(header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000), encoding="utf-8")


def answers(domain_file: Path) -> list[str]:
    """What a bot turn may be corrected to: the domain's responses and actions."""
    domain = yaml.safe_load(domain_file.read_text(encoding="utf-8")) or {}
    return sorted(set(domain.get("responses") or {}) | set(domain.get("actions") or []))


def write_story(stories_file: Path, domain_file: Path, name: str, steps: list[dict[str, Any]]) -> ReviewStory:
    intended = steps[-1]["action"]
    if intended not in answers(domain_file):
        raise InvalidEdit("intended", f"«{intended}» no es una respuesta ni una acción del dominio.")
    with locked(domain_file):
        data = _load(stories_file)
        if any(story.get("story") == name for story in data.get("stories") or []):
            raise InvalidEdit("message", "Este turno ya está marcado: su historia de prueba existe.")
        data.setdefault("stories", []).append({"story": name, "steps": steps})
        _dump(stories_file, data)
    return ReviewStory(name, stories_file, steps)


def remove_story(stories_file: Path, domain_file: Path, name: str) -> list[dict[str, Any]]:
    """The story's steps, taken out of the file (undoing a mark)."""
    with locked(domain_file):
        data = _load(stories_file)
        kept = [story for story in data.get("stories") or [] if story.get("story") != name]
        removed = [story for story in data.get("stories") or [] if story.get("story") == name]
        if not removed:
            raise InvalidEdit("change", "Esa historia de prueba ya no está en el archivo.")
        data["stories"] = kept
        _dump(stories_file, data)
    return list(removed[0]["steps"])


def mark_wrong(session: Session, tracker: TrackerSource, conversation: Conversation, message_id: int,
               intended: str, stories_file: Path, domain_file: Path) -> ReviewStory:
    """The test story for a bot turn the admin says was wrong; InvalidEdit when it cannot be made."""
    message = session.get(Message, message_id)
    if message is None or message.conversation_id != conversation.id:
        raise LookupError(message_id)
    if message.direction is not Direction.OUTBOUND or message.in_reply_to_id is None or message.contact_decision:
        raise InvalidEdit("message", "Solo se marcan respuestas del bot a un mensaje del deudor (no recordatorios).")
    if intended not in answers(domain_file):
        raise InvalidEdit("intended", f"«{intended}» no es una respuesta ni una acción del dominio.")
    steps = story_steps(tracker.events(conversation.sender_id), message.body, message.created_at.timestamp() + 2,
                        intended)
    return write_story(stories_file, domain_file, f"revisión {conversation.id}-{message.id}: {intended}", steps)
