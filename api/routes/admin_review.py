"""Conversation review for the admin area: find transcripts, mark a bot turn wrong → a test story.

Supervisors read (within their creditors), admins mark; what may be seen is decided in bot.agents.access.
Transcripts come redacted (bot.admin.review); a refusal is a 422 with the field, made in api/errors.py.
"""
from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from api.auth import CurrentPrincipal
from api.deps import DbSession, rasa_api
from bot.admin import review, tuning
from bot.agents.access import conversation_in_scope, in_scope, require_admin_reader, require_admin_writer
from bot.common.settings import get_settings
from bot.ledger.models import Conversation, utcnow
from bot.messaging.dialogue import DialogueUnavailable

router = APIRouter(prefix="/api/admin/review", tags=["admin"])


class TranscriptOut(BaseModel):
    conversation: review.Summary
    turns: list[review.Turn]


class MarkIn(BaseModel):
    intended: str = Field(min_length=1, max_length=100)  # a response (utter_…) or an action of the domain


class StoryOut(BaseModel):
    name: str
    file: str
    text: str  # the story as written, for the admin to see
    change_id: int


@router.get("/answers", response_model=list[str])
def answers(principal: CurrentPrincipal) -> list[str]:
    require_admin_reader(principal)
    return review.answers(get_settings().domain_file)


@router.get("/conversations", response_model=list[review.Summary])
def conversations(principal: CurrentPrincipal, session: DbSession,
                  outcome: str | None = Query(default=None, max_length=32),
                  intent: str | None = Query(default=None, max_length=64),
                  handoff_reason: str | None = Query(default=None, max_length=64),
                  country: str | None = Query(default=None, max_length=2),
                  limit: int = Query(default=50, ge=1, le=200)) -> list[review.Summary]:
    require_admin_reader(principal)
    filters = review.Filters(outcome or None, intent or None, handoff_reason or None, country or None)
    return review.search(session, filters, in_scope(principal), limit)


@router.get("/conversations/{conversation_id}", response_model=TranscriptOut)
def conversation(conversation_id: int, principal: CurrentPrincipal, session: DbSession) -> TranscriptOut:
    require_admin_reader(principal)
    found = conversation_in_scope(session, principal, conversation_id)
    summary = review.search(session, review.Filters(), Conversation.id == found.id, 1)[0]
    return TranscriptOut(conversation=summary, turns=review.transcript(session, found))


@router.post("/conversations/{conversation_id}/messages/{message_id}/wrong", response_model=StoryOut,
             status_code=201)
def mark_wrong(conversation_id: int, message_id: int, body: MarkIn, principal: CurrentPrincipal,
               session: DbSession) -> StoryOut:
    """The bot turn should have been `intended`: a test story from the tracker, written for `rasa test`."""
    require_admin_writer(principal)
    found = conversation_in_scope(session, principal, conversation_id)
    try:
        story, change = tuning.mark_wrong(session, principal.user_id, rasa_api(), found, message_id, body.intended,
                                          utcnow())
    except LookupError as exc:
        raise HTTPException(404, detail="Ese mensaje no es de esta conversación.") from exc
    except DialogueUnavailable as exc:
        raise HTTPException(503, detail="El bot no respondió: inténtalo en un momento.") from exc
    return StoryOut(name=story.name, file=story.file.name, text=story.text, change_id=change.id)
