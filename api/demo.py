"""The demo chat: a phone-like page that talks to the same gateway Twilio does, with no Twilio account."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select
from pydantic import BaseModel, Field

from api.deps import get_gateway
from bot.demo import demo_debtors
from bot.gateway import Gateway, Inbound
from bot.identity import document_digits
from bot.phones import InvalidPhone, sender_id_for
from bot.storage.db import session_scope
from bot.storage.models import Conversation, Direction, Message, MessageStatus

router = APIRouter(prefix="/demo", tags=["demo"])
PAGE = Path(__file__).resolve().parent / "static" / "demo.html"
SHOWN = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)


class DemoDebtor(BaseModel):
    name: str
    country: str
    phone: str
    hint: str  # the four document digits that verify: it is a demo


class DemoMessage(BaseModel):
    phone: str = Field(min_length=4, max_length=20)
    text: str = Field(max_length=5000)


class DemoReply(BaseModel):
    replies: list[str]


class DemoNotices(BaseModel):
    """Messages the debtor did not just ask for (receipts, agents): the page polls for them."""

    last_id: int
    messages: list[str]


@router.get("", response_class=HTMLResponse)
def page() -> HTMLResponse:
    return HTMLResponse(PAGE.read_text(encoding="utf-8"))


@router.get("/api/debtors", response_model=list[DemoDebtor])
def debtors() -> list[DemoDebtor]:
    with session_scope() as session:
        return [DemoDebtor(name=d.full_name, country=d.country, phone=d.phones[0].e164,
                           hint=document_digits(d.document_id)[-4:]) for d in demo_debtors(session) if d.phones]


@router.post("/api/messages", response_model=DemoReply)
def send(message: DemoMessage, gateway: Gateway = Depends(get_gateway)) -> DemoReply:
    try:
        _, replies = gateway.receive(Inbound(channel="demo", sender=message.phone, body=message.text),
                                     MessageStatus.SENT)
    except InvalidPhone:
        raise HTTPException(status_code=422, detail="not a phone number") from None
    return DemoReply(replies=replies)


@router.get("/api/notices", response_model=DemoNotices)
def notices(phone: str, after: int | None = None) -> DemoNotices:
    """Proactive messages to this demo number after message `after` (omit it to learn where to start)."""
    try:
        sender_id = sender_id_for("demo", phone)
    except InvalidPhone:
        raise HTTPException(status_code=422, detail="not a phone number") from None
    with session_scope() as session:
        query = (select(Message).join(Conversation).where(Conversation.sender_id == sender_id,
                                                          Message.direction == Direction.OUTBOUND))
        ids = query.with_only_columns(Message.id).subquery()
        last = session.scalar(select(func.max(ids.c.id))) or 0
        if after is None:
            return DemoNotices(last_id=last, messages=[])
        rows = session.scalars(query.where(Message.id > after, Message.in_reply_to_id.is_(None),
                                           Message.status.in_(SHOWN)).order_by(Message.id)).all()
        return DemoNotices(last_id=max([after, *[row.id for row in rows]]), messages=[row.body for row in rows])
