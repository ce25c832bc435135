"""Admins' edits of the training data, each kept in the history with who, when, before and after, and
revertible. Who may edit is decided by the caller through bot.agents.access (the API asks there)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.admin import config_files, review
from bot.admin.replies import Replies, StaleReply, Variation, variation_of
from bot.admin.training_data import EditConflict, Example, InvalidEdit, TrainingData
from bot.common.settings import PROJECT_ROOT, get_settings
from bot.ledger.models import AdminChange, AuditLog, Conversation

EXAMPLE, INTENT, REPLY, STORY = "nlu_example", "intent", "reply", "test_story"


@lru_cache(maxsize=4)
def _training_data(nlu_dir: Path, domain_file: Path) -> TrainingData:
    heldout = tuple(sorted((PROJECT_ROOT / "tests" / "nlu").glob("heldout*.yml")))
    return TrainingData(nlu_dir, domain_file, heldout)


def training_data() -> TrainingData:
    """The project's files (TRAINING_DATA_DIR, DOMAIN_FILE): what `rasa train` reads."""
    settings = get_settings()
    return _training_data(settings.training_data_dir, settings.domain_file)


def replies() -> Replies:
    """The responses of the project's domain.yml (DOMAIN_FILE)."""
    return Replies(get_settings().domain_file)


def _reply_dict(variations: tuple[Variation, ...]) -> dict[str, Any]:
    return {"variations": [variation.as_dict() for variation in variations]}


def edit_reply(session: Session, user_id: int | None, name: str, variations: tuple[Variation, ...], version: str,
               now: datetime) -> AdminChange:
    before, after = replies().edit(name, variations, version)
    return _record(session, user_id, REPLY, "edit", name, _reply_dict(before.variations),
                   _reply_dict(after.variations), now)


def _revert_reply(session: Session, user_id: int | None, original: AdminChange, now: datetime) -> AdminChange:
    assert original.before is not None and original.after is not None
    current = replies().get(original.target)
    if [variation.as_dict() for variation in current.variations] != original.after["variations"]:
        raise StaleReply(current)
    wanted = tuple(variation_of(raw) for raw in original.before["variations"])
    before, after = replies().edit(original.target, wanted, current.version)
    return _record(session, user_id, REPLY, "edit", original.target, _reply_dict(before.variations),
                   _reply_dict(after.variations), now, original)


def mark_wrong(session: Session, user_id: int | None, tracker: review.TrackerSource, conversation: Conversation,
               message_id: int, intended: str, now: datetime) -> tuple[review.ReviewStory, AdminChange]:
    """A bot turn marked wrong becomes a test story (REVIEW_STORIES_FILE), kept in the history."""
    settings = get_settings()
    story = review.mark_wrong(session, tracker, conversation, message_id, intended, settings.review_stories_file,
                              settings.domain_file)
    change = _record(session, user_id, STORY, "add", story.name[:128], None,
                     {"story": story.name, "intended": intended, "conversation_id": conversation.id,
                      "message_id": message_id}, now)
    return story, change


def _revert_story(session: Session, user_id: int | None, original: AdminChange, now: datetime) -> AdminChange:
    assert original.after is not None
    settings = get_settings()
    steps = review.remove_story(settings.review_stories_file, settings.domain_file, original.after["story"])
    return _record(session, user_id, STORY, "delete", original.target, {**original.after, "steps": steps}, None,
                   now, original)


def _as_dict(example: Example | None) -> dict[str, Any] | None:
    return None if example is None else {"intent": example.intent, "text": example.text, "file": example.file}


def _record(session: Session, user_id: int | None, kind: str, action: str, target: str,
            before: dict[str, Any] | None, after: dict[str, Any] | None, now: datetime,
            reverts: AdminChange | None = None) -> AdminChange:
    change = AdminChange(at=now, user_id=user_id, kind=kind, action=action, target=target, before=before,
                         after=after, reverts_id=reverts.id if reverts else None)
    session.add(change)
    session.add(AuditLog(actor=f"user:{user_id}" if user_id else "cli", action=f"admin_{kind}_{action}",
                         entity_type=kind, entity_id=target, details={"before": before, "after": after}, at=now))
    session.flush()
    return change


def add_example(session: Session, user_id: int | None, intent: str, text: str, now: datetime) -> AdminChange:
    example = training_data().add(intent, text)
    return _record(session, user_id, EXAMPLE, "add", example.id, None, _as_dict(example), now)


def edit_example(session: Session, user_id: int | None, example_id: str, text: str, intent: str | None,
                 now: datetime, intent_hint: str | None = None) -> AdminChange:
    data = training_data()
    before = data.find(example_id)
    example = data.edit(example_id, text, intent, intent_hint=intent_hint)
    return _record(session, user_id, EXAMPLE, "edit", example.id, _as_dict(before), _as_dict(example), now)


def delete_example(session: Session, user_id: int | None, example_id: str, now: datetime,
                   intent_hint: str | None = None) -> AdminChange:
    example = training_data().delete(example_id, intent_hint=intent_hint)
    return _record(session, user_id, EXAMPLE, "delete", example.id, _as_dict(example), None, now)


def add_intent(session: Session, user_id: int | None, name: str, now: datetime) -> AdminChange:
    training_data().add_intent(name)
    return _record(session, user_id, INTENT, "add", name, None, {"name": name}, now)


@dataclass(frozen=True)
class Reverted:
    original: AdminChange
    change: AdminChange


def revert(session: Session, user_id: int | None, change_id: int, now: datetime) -> Reverted:
    """Undo one change by making its inverse (itself in the history). EditConflict when what it changed has
    changed again since; InvalidEdit when the undo would break the data (e.g. the sentence is now elsewhere)."""
    original = session.get(AdminChange, change_id)
    if original is None:
        raise LookupError(change_id)
    if original.kind.startswith("config:"):
        return Reverted(original, config_files.revert(session, user_id, original, now))
    if original.kind == REPLY:
        return Reverted(original, _revert_reply(session, user_id, original, now))
    if original.kind == STORY and original.action == "add":
        return Reverted(original, _revert_story(session, user_id, original, now))
    if original.kind != EXAMPLE:
        raise InvalidEdit("change", "Este tipo de cambio no se puede deshacer desde aquí.")
    before, after = original.before, original.after
    data = training_data()
    if before is None and after is not None:  # an add: delete what it added
        example = data.delete(Example(after["intent"], after["text"], "").id, intent_hint=after["intent"])
        change = _record(session, user_id, EXAMPLE, "delete", example.id, _as_dict(example), None, now, original)
    elif before is not None and after is None:  # a delete: add it back
        example = data.add(before["intent"], before["text"])
        change = _record(session, user_id, EXAMPLE, "add", example.id, None, _as_dict(example), now, original)
    elif before is not None and after is not None:  # an edit: edit it back
        current = Example(after["intent"], after["text"], "")
        example = data.edit(current.id, before["text"], before["intent"], intent_hint=after["intent"])
        change = _record(session, user_id, EXAMPLE, "edit", example.id, _as_dict(current), _as_dict(example), now,
                         original)
    else:
        raise InvalidEdit("change", "Este cambio no tiene nada que deshacer.")
    return Reverted(original, change)


def history(session: Session, kind: str | None = None, limit: int = 100) -> list[AdminChange]:
    query = select(AdminChange).order_by(AdminChange.id.desc()).limit(limit)
    if kind:
        query = query.where(AdminChange.kind == kind)
    return list(session.scalars(query))


__all__ = ["EditConflict", "InvalidEdit", "add_example", "add_intent", "delete_example", "edit_example", "edit_reply",
           "history", "mark_wrong", "replies", "revert", "training_data"]
