"""What Twilio's acknowledgement waits for: an inbound message stored, and nothing else.

Statements built once (SQLAlchemy compiles a statement once and caches it; one built per message, or one it
cannot cache, costs a webhook more than its round trips). On PostgreSQL a single statement touches the
conversation (or creates it on first contact) and inserts the message: one round trip, atomic on its own, so an
event loop can run it on an autocommit connection (`store_async`) without a worker thread. Elsewhere (SQLite,
the embedded default) the same in two statements in the caller's transaction (`store_in`).

Two first messages of one debtor at once both find no conversation and both create one: the second fails the
unique sender id, as a repeated MessageSid fails the unique message id; the caller finds the duplicate or tries
again (`Gateway.store`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Executable, String, Table, bindparam, exists, func, insert, make_url, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Session

from bot.common.settings import get_settings
from bot.ledger.models import Conversation, ConversationMode, Direction, Message, MessageStatus

_conversations, _messages = cast(Table, Conversation.__table__), cast(Table, Message.__table__)


# No parameter is named after a column: SQLAlchemy adds `SET <column> = :<name>` to an UPDATE (even one inside a
# CTE) for every parameter that matches a column of its table.
def _typed(name: str, table: Table, column: str, value: Any = None) -> Any:
    return bindparam(name, value, type_=table.c[column].type)


# The debtor's last word, and the number they wrote to (kept when a form has none).
TOUCH_CONVERSATION = (update(_conversations).where(_conversations.c.sender_id == bindparam("sender", type_=String))
                      .values(last_inbound_at=_typed("now", _conversations, "last_inbound_at"),
                              updated_at=_typed("now", _conversations, "updated_at"),
                              our_address=func.coalesce(bindparam("to", type_=String),
                                                        _conversations.c.our_address))
                      .returning(_conversations.c.id))


def _new_conversation() -> dict[str, Any]:
    return {"channel": bindparam("in_channel", type_=String), "sender_id": bindparam("sender", type_=String),
            "mode": _typed("in_mode", _conversations, "mode", ConversationMode.BOT),
            "last_inbound_at": _typed("now", _conversations, "last_inbound_at"),
            "our_address": bindparam("to", type_=String),
            "reset_dialogue": _typed("in_reset", _conversations, "reset_dialogue", False),
            "created_at": _typed("now", _conversations, "created_at"),
            "updated_at": _typed("now", _conversations, "updated_at")}


def _new_message() -> dict[str, Any]:
    return {"direction": _typed("in_direction", _messages, "direction", Direction.INBOUND),
            "channel": bindparam("in_channel", type_=String), "body": bindparam("in_body", type_=String),
            "status": _typed("in_status", _messages, "status", MessageStatus.RECEIVED),
            "external_id": bindparam("in_sid", type_=String), "media": _typed("in_media", _messages, "media"),
            "created_at": _typed("now", _messages, "created_at"),
            "updated_at": _typed("now", _messages, "updated_at")}


CREATE_CONVERSATION = insert(_conversations).values(_new_conversation()).returning(_conversations.c.id)
INSERT_MESSAGE = (insert(_messages).values(conversation_id=bindparam("conversation_id"), **_new_message())
                  .returning(_messages.c.id))


def _in_one_statement() -> Executable:
    """touched: the conversation's row updated; created: inserted only if there was none; then the message."""
    new_conversation, new_message = _new_conversation(), _new_message()
    touched = TOUCH_CONVERSATION.cte("touched")
    created = (insert(_conversations)
               .from_select(list(new_conversation),
                            select(*(value.label(name) for name, value in new_conversation.items()))
                            .where(~exists(select(touched.c.id))))
               .returning(_conversations.c.id).cte("created"))
    conversation = union_all(select(touched.c.id), select(created.c.id)).cte("conversation")
    return (insert(_messages)
            .from_select(["conversation_id", *new_message],
                         select(conversation.c.id, *(value.label(name) for name, value in new_message.items())))
            .returning(_messages.c.id))


STORE_ON_POSTGRES = _in_one_statement()
FIND_MESSAGE = select(_messages.c.id).where(_messages.c.external_id == bindparam("in_sid", type_=String))


@dataclass(frozen=True)
class InboundRow:
    """An inbound message as the webhook stores it; `sender_id` is the conversation's key."""

    channel: str
    sender_id: str
    body: str
    external_id: str | None
    to: str | None
    media: list[dict[str, str]]
    now: datetime

    def parameters(self) -> dict[str, Any]:
        return {"in_channel": self.channel, "sender": self.sender_id, "in_body": self.body,
                "in_sid": self.external_id, "to": self.to or None,
                "in_media": {"items": self.media} if self.media else {}, "now": self.now}


def store_in(session: Session, row: InboundRow) -> int:
    """The message's id; in the session's transaction, which the caller commits."""
    parameters = row.parameters()
    if session.get_bind().dialect.name == "postgresql":
        return cast(int, session.execute(STORE_ON_POSTGRES, parameters).scalar_one())
    conversation_id = session.scalar(TOUCH_CONVERSATION, parameters)
    if conversation_id is None:  # first contact
        conversation_id = session.execute(CREATE_CONVERSATION, parameters).scalar_one()
    return cast(int, session.execute(INSERT_MESSAGE, {**parameters, "conversation_id": conversation_id})
                .scalar_one())


def async_engine_for(url: str) -> AsyncEngine | None:
    """An autocommit engine for `store_async`, PostgreSQL only (None elsewhere: SQLite stores in a thread).

    Bound to the event loop that first uses it: the app makes it in its lifespan and disposes of it there."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return None
    # No overflow: a statement holds a connection for one round trip, so a burst waits for one of the pool rather
    # than opening (and closing again) PostgreSQL backends of its own. No ping before each statement (a round
    # trip of its own): a connection PostgreSQL dropped fails its statement, the pool drops every connection as
    # old, and `Gateway.store_async` tries once more on a new one.
    return create_async_engine(parsed.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT",
                               pool_pre_ping=False, pool_size=get_settings().db_pool_size, max_overflow=0,
                               connect_args={"options": "-c timezone=UTC"})


async def store_async(engine: AsyncEngine, row: InboundRow) -> int:
    """The message's id, stored and committed: one statement, one round trip, on the caller's event loop."""
    async with engine.connect() as connection:
        return cast(int, (await connection.execute(STORE_ON_POSTGRES, row.parameters())).scalar_one())


async def find_message_async(engine: AsyncEngine, external_id: str) -> int | None:
    """The stored message with this provider id (a repeated webhook), if any."""
    async with engine.connect() as connection:
        return cast(int | None, await connection.scalar(FIND_MESSAGE, {"in_sid": external_id}))

