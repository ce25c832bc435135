"""The agent API: the hand-off queue and what a person does with a conversation (the console uses only this).

Every route needs a signed-in person (401 otherwise); who may see and do what is decided in bot.agents.access.
A conversation outside the person's creditors answers 404, exactly as one that does not exist.
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from api.auth import CurrentPrincipal, still_signed_in
from api.deps import DbSession, TransportDep
from api.worker import flush_outbox
from bot.agents import desk
from bot.agents.views import (
    CannedReply,
    ConversationView,
    HeldConversation,
    NoteView,
    OfferPreview,
    OfferResult,
    OutcomeView,
    PersonLoad,
    QueueEntry,
    SentMessage,
)
from bot.ledger.changes import change_feed
from bot.ledger.models import Conversation, utcnow
from bot.negotiation.policy import PlanProposal
from payments import provider_from_settings

router = APIRouter(prefix="/api/agent", tags=["agent"])
# Woken by every commit (with Redis, of every process); at the latest after this long it looks anyway (a
# commit of a process without Redis, e.g. the action server in the demo) and checks the session still holds.
STREAM_HEARTBEAT_SECONDS = 5.0


class ConversationState(BaseModel):
    id: int
    mode: str
    assigned_to: str | None


class MessageRequest(BaseModel):
    """Free text, or (outside WhatsApp's 24-hour window) an approved template with its variables."""

    text: str | None = Field(default=None, max_length=desk.MAX_TEXT)
    template: str | None = Field(default=None, max_length=64)
    variables: Annotated[dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=200)]],
                         Field(max_length=10)] = {}

    @model_validator(mode="after")
    def _one_of(self) -> MessageRequest:
        if (self.text is None) == (self.template is None):
            raise ValueError("send either text or template")
        return self


class NoteRequest(BaseModel):
    text: str = Field(min_length=1, max_length=5000)


class PlanOfferRequest(BaseModel):
    kind: Literal["plan"]
    account_id: int
    installments: int = Field(ge=1, le=120)
    down_payment: Decimal = Field(ge=0, max_digits=18, decimal_places=2)
    first_date: date
    frequency: Literal["weekly", "biweekly", "monthly"] = "monthly"


class SettlementOfferBody(BaseModel):
    kind: Literal["settlement"]
    account_id: int
    amount: Decimal | None = Field(default=None, gt=0, max_digits=18, decimal_places=2)


OfferRequest = Annotated[PlanOfferRequest | SettlementOfferBody, Field(discriminator="kind")]


class OutcomeRequest(BaseModel):
    kind: desk.OutcomeKind
    callback_at: AwareDatetime | None = None  # with its offset: "2026-12-01T10:00:00-06:00"
    details: Annotated[dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=500)]],
                       Field(max_length=20)] = {}


def _state(conversation: Conversation) -> ConversationState:
    return ConversationState(id=conversation.id, mode=conversation.mode.value, assigned_to=None)


@router.get("/stream", response_class=StreamingResponse)
async def stream(request: Request, principal: CurrentPrincipal) -> StreamingResponse:
    """Server-Sent Events: `change` whenever anything this person sees changes (the console then refetches)."""
    async def events() -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        last = ""
        async for _ in change_feed.changes(heartbeat_seconds=STREAM_HEARTBEAT_SECONDS):
            if await request.is_disconnected():
                return
            if not await run_in_threadpool(still_signed_in, request):
                return  # signed out, idle or disabled meanwhile: the stream ends, and reconnecting gets a 401
            mark = await run_in_threadpool(desk.change_mark, principal)
            if mark != last:
                last = mark
                yield f"event: change\ndata: {json.dumps({'mark': mark})}\n\n"
            else:
                yield ": still here\n\n"  # keeps proxies from closing an idle stream

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/queue", response_model=list[QueueEntry])
def queue(principal: CurrentPrincipal, session: DbSession) -> list[QueueEntry]:
    return desk.queue(session, principal, utcnow())


@router.get("/overview", response_model=list[PersonLoad])
def overview(principal: CurrentPrincipal, session: DbSession) -> list[PersonLoad]:
    """Supervisors: who is handling what (403 for agents)."""
    return desk.overview(session, principal, utcnow())


@router.get("/mine", response_model=list[HeldConversation])
def mine(principal: CurrentPrincipal, session: DbSession) -> list[HeldConversation]:
    """The caller's own conversations, unread first: the console polls this (and the queue) to notify."""
    return desk.held(session, principal, utcnow())


@router.get("/conversations/{conversation_id}", response_model=ConversationView)
def conversation(conversation_id: int, principal: CurrentPrincipal, session: DbSession) -> ConversationView:
    return desk.conversation_view(session, principal, conversation_id, utcnow())


@router.post("/conversations/{conversation_id}/claim", response_model=ConversationState)
def claim(conversation_id: int, principal: CurrentPrincipal, session: DbSession) -> ConversationState:
    conversation = desk.claim(session, principal, conversation_id, utcnow())
    return ConversationState(id=conversation.id, mode=conversation.mode.value, assigned_to=principal.email)


@router.post("/conversations/{conversation_id}/messages", response_model=SentMessage, status_code=202)
def send_message(conversation_id: int, body: MessageRequest, principal: CurrentPrincipal, session: DbSession,
                 background: BackgroundTasks, transport: TransportDep) -> SentMessage:
    """Queued through the outbox (202): it leaves after the response, and its delivery shows in the transcript."""
    try:
        sent = desk.send_message(session, principal, conversation_id, utcnow(), text=body.text,
                                 template=body.template, variables=body.variables)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    background.add_task(flush_outbox, transport)
    return sent


@router.post("/conversations/{conversation_id}/notes", response_model=NoteView, status_code=201)
def add_note(conversation_id: int, body: NoteRequest, principal: CurrentPrincipal, session: DbSession) -> NoteView:
    try:
        return desk.add_note(session, principal, conversation_id, body.text, utcnow())
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None


@router.get("/conversations/{conversation_id}/canned", response_model=list[CannedReply])
def canned(conversation_id: int, principal: CurrentPrincipal, session: DbSession) -> list[CannedReply]:
    return desk.canned_replies(session, principal, conversation_id, utcnow())


class AssignRequest(BaseModel):
    email: str = Field(min_length=3, max_length=254)


@router.post("/conversations/{conversation_id}/assign", response_model=ConversationState)
def assign(conversation_id: int, body: AssignRequest, principal: CurrentPrincipal,
           session: DbSession) -> ConversationState:
    """Supervisors: give the conversation to a person of its creditor."""
    conversation = desk.assign(session, principal, conversation_id, body.email, utcnow())
    return ConversationState(id=conversation.id, mode=conversation.mode.value, assigned_to=body.email.strip().lower())


def _offer(body: PlanOfferRequest | SettlementOfferBody) -> desk.PlanOffer | desk.SettlementOfferRequest:
    if isinstance(body, PlanOfferRequest):
        return desk.PlanOffer(account_id=body.account_id, proposal=PlanProposal(
            installments=body.installments, down_payment=body.down_payment, first_date=body.first_date,
            frequency=body.frequency))
    return desk.SettlementOfferRequest(account_id=body.account_id, amount=body.amount)


@router.post("/conversations/{conversation_id}/offers/preview", response_model=OfferPreview)
def preview_offer(conversation_id: int, body: OfferRequest, principal: CurrentPrincipal,
                  session: DbSession) -> OfferPreview:
    """The policy engine's answer for this offer, with nothing stored or sent."""
    return desk.preview_offer(session, principal, conversation_id, _offer(body), utcnow())


@router.post("/conversations/{conversation_id}/offers", response_model=OfferResult, status_code=201)
def make_offer(conversation_id: int, body: OfferRequest, principal: CurrentPrincipal, session: DbSession,
               background: BackgroundTasks, transport: TransportDep) -> OfferResult:
    """A plan or a settlement within the person's own limits (config/policy.yml); 422 with the reasons if not."""
    try:
        result = desk.make_offer(session, principal, conversation_id, _offer(body), provider_from_settings(), utcnow())
    except desk.PolicyRefused as exc:
        raise HTTPException(status_code=422, detail={"reason": "outside_policy", "reasons": exc.reasons}) from None
    background.add_task(flush_outbox, transport)
    return result


@router.post("/conversations/{conversation_id}/outcome", response_model=OutcomeView, status_code=201)
def record_outcome(conversation_id: int, body: OutcomeRequest, principal: CurrentPrincipal,
                   session: DbSession) -> OutcomeView:
    try:
        return desk.record_outcome(session, principal, conversation_id, body.kind, utcnow(),
                                   callback_at=body.callback_at, details=dict(body.details))
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None


@router.post("/conversations/{conversation_id}/release", response_model=ConversationState)
def release(conversation_id: int, principal: CurrentPrincipal, session: DbSession) -> ConversationState:
    return _state(desk.release(session, principal, conversation_id, utcnow()))


@router.post("/conversations/{conversation_id}/return", response_model=ConversationState)
def return_to_bot(conversation_id: int, principal: CurrentPrincipal, session: DbSession) -> ConversationState:
    return _state(desk.return_to_bot(session, principal, conversation_id, utcnow()))


@router.post("/conversations/{conversation_id}/close", response_model=ConversationState)
def close(conversation_id: int, principal: CurrentPrincipal, session: DbSession) -> ConversationState:
    return _state(desk.close(session, principal, conversation_id, utcnow()))

