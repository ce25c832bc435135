"""The demo chat: a phone-like page that talks to the same gateway Twilio does, with no Twilio account.

Served only with DEMO_ENABLED in development, and only for the demo portfolio: it lists the demo debtors
with the digits that verify them, and accepts messages only as them (or as the demo's stranger).
"""
from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.deps import DbSession, GatewayDep
from api.pages import render_page
from bot.common.phones import InvalidPhone, normalize_phone, sender_id_for
from bot.identity.verification import document_digits
from bot.ledger.models import Conversation, Direction, Message, MessageStatus
from bot.messaging.gateway import Inbound
from bot.tools.demo import DEMO_STRANGER, demo_debtors, is_demo_number

router = APIRouter(prefix="/demo", tags=["demo"])
SHOWN = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)


class DemoDebtor(BaseModel):
    name: str
    country: str
    phone: str
    hint: str  # the four document digits that verify: it is a demo


class DemoMessage(BaseModel):
    phone: str = Field(min_length=4, max_length=20)
    text: str = Field(max_length=5000)


class DemoDebtors(BaseModel):
    debtors: list[DemoDebtor]
    stranger: str  # a number that is nobody's, to see how a stranger is treated


class DemoReply(BaseModel):
    replies: list[str]


class DemoNotices(BaseModel):
    """Messages the debtor did not just ask for (receipts, agents): the page polls for them."""

    last_id: int
    messages: list[str]


@router.get("", response_class=HTMLResponse)
def page() -> HTMLResponse:
    return render_page("demo.html")


@router.get("/api/debtors", response_model=DemoDebtors)
def debtors(session: DbSession) -> DemoDebtors:
    return DemoDebtors(stranger=DEMO_STRANGER, debtors=[
        DemoDebtor(name=d.full_name, country=d.country, phone=d.phones[0].e164,
                   hint=document_digits(d.document_id)[-4:]) for d in demo_debtors(session) if d.phones])


def demo_sender(session: Session, phone: str) -> str:
    """The demo's sender id for this number; 422 for a non-number, 403 for a number outside the demo."""
    try:
        e164 = normalize_phone(phone, "ZZ")
    except InvalidPhone:
        raise HTTPException(status_code=422, detail="not a phone number") from None
    if not is_demo_number(session, e164):
        raise HTTPException(status_code=403, detail="the demo plays only the demo portfolio")
    return sender_id_for("demo", e164)


@router.post("/api/messages", response_model=DemoReply)
def send(message: DemoMessage, gateway: GatewayDep, session: DbSession) -> DemoReply:
    sender_id = demo_sender(session, message.phone)
    session.rollback()  # only read: the gateway stores and answers in its own transactions
    _, replies = gateway.receive(Inbound(channel="demo", sender=sender_id, body=message.text), MessageStatus.SENT)
    return DemoReply(replies=replies)


@router.get("/api/notices", response_model=DemoNotices)
def notices(phone: str, session: DbSession, after: int | None = None) -> DemoNotices:
    """Proactive messages to this demo number after message `after` (omit it to learn where to start)."""
    sender_id = demo_sender(session, phone)
    query = (select(Message).join(Conversation).where(Conversation.sender_id == sender_id,
                                                      Message.direction == Direction.OUTBOUND))
    ids = query.with_only_columns(Message.id).subquery()
    last = session.scalar(select(func.max(ids.c.id))) or 0
    if after is None:
        return DemoNotices(last_id=last, messages=[])
    rows = session.scalars(query.where(Message.id > after, Message.in_reply_to_id.is_(None),
                                       Message.status.in_(SHOWN)).order_by(Message.id)).all()
    return DemoNotices(last_id=max([after, *[row.id for row in rows]]), messages=[row.body for row in rows])
