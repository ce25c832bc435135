"""What the webhook stores before it answers Twilio (Gateway.store): the message, and on its conversation when the
debtor last wrote (the WhatsApp 24-hour window) and which of our numbers they wrote to (replies go from it)."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.ledger.db import session_scope
from bot.ledger.models import Conversation, ConversationMode, Direction, Message, MessageStatus, OptOut
from bot.messaging.contact import contact_key_of, opt_out
from bot.messaging.dialogue import DialogueUnavailable
from bot.messaging.gateway import Gateway, Inbound, Stored
from bot.messaging.inbound_store import async_engine_for
from bot.messaging.locks import InProcessLocks
from tests.bot.messaging.test_contact_keys import EchoDialogue

FIRST = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
ANA = "whatsapp:+525512345678"


def test_each_message_touches_its_conversation_and_keeps_what_it_does_not_say(database_url: str) -> None:
    now = [FIRST]
    gateway = Gateway(EchoDialogue(), InProcessLocks(), clock=lambda: now[0])
    first = gateway.store(Inbound("whatsapp", ANA, "hola", external_id="SM1", to="whatsapp:+15550001111"))
    now[0] = FIRST + timedelta(hours=30)
    second = gateway.store(Inbound("whatsapp", ANA, "sigo aquí", external_id="SM2", to=None))  # no To
    now[0] = FIRST + timedelta(hours=31)
    third = gateway.store(Inbound("whatsapp", ANA, "🎤", external_id="SM3", to="whatsapp:+15550002222",
                                  media=[{"url": "https://api.twilio.com/m/1", "content_type": "audio/ogg"}]))
    again = gateway.store(Inbound("whatsapp", ANA, "🎤", external_id="SM3", to="whatsapp:+15550002222"))
    assert again.duplicate and again.message_id == third.message_id  # Twilio's retry: the stored one
    with session_scope() as session:
        conversation = session.scalars(select(Conversation).where(Conversation.sender_id == ANA)).one()
        assert conversation.last_inbound_at == FIRST + timedelta(hours=31)
        assert conversation.our_address == "whatsapp:+15550002222"  # the number of the last message that said it
        messages = session.scalars(select(Message).order_by(Message.id)).all()
        assert [message.id for message in messages] == [first.message_id, second.message_id, third.message_id]
        assert {message.conversation_id for message in messages} == {conversation.id}
        assert [(m.direction, m.status, m.body, m.created_at) for m in messages] == [
            (Direction.INBOUND, MessageStatus.RECEIVED, "hola", FIRST),
            (Direction.INBOUND, MessageStatus.RECEIVED, "sigo aquí", FIRST + timedelta(hours=30)),
            (Direction.INBOUND, MessageStatus.RECEIVED, "🎤", FIRST + timedelta(hours=31))]
        assert messages[2].media == {"items": [{"url": "https://api.twilio.com/m/1", "content_type": "audio/ogg"}]}
        assert messages[0].media == {}


def test_a_missing_to_keeps_the_number_the_debtor_wrote_to(database_url: str) -> None:
    gateway = Gateway(EchoDialogue(), InProcessLocks())
    gateway.store(Inbound("whatsapp", ANA, "hola", external_id="SM1", to="whatsapp:+15550001111"))
    gateway.store(Inbound("whatsapp", ANA, "otra vez", external_id="SM2", to=""))
    with session_scope() as session:
        our_address = session.scalars(select(Conversation.our_address).where(Conversation.sender_id == ANA)).one()
    assert our_address == "whatsapp:+15550001111"


# --- on an event loop (REST mode's webhook on PostgreSQL: api.intake) -----------------------------------------

def _stored_by_the_loop[T](database_url: str, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    engine = async_engine_for(database_url)
    assert engine is not None

    async def run() -> T:
        try:
            return await work(engine)
        finally:
            await engine.dispose()
    return asyncio.run(run())


def test_on_the_event_loop_a_message_is_stored_as_by_the_thread(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        assert async_engine_for(database_url) is None  # SQLite: the webhook stores in a worker thread (above)
        return
    now = [FIRST]
    gateway = Gateway(EchoDialogue(), InProcessLocks(), clock=lambda: now[0])

    async def three_messages(engine: AsyncEngine) -> list[Stored]:
        first = await gateway.store_async(Inbound("whatsapp", ANA, "hola", external_id="SM1",
                                                  to="whatsapp:+15550001111"), engine)
        now[0] = FIRST + timedelta(hours=30)
        second = await gateway.store_async(Inbound("whatsapp", ANA, "sigo aquí", external_id="SM2"), engine)
        now[0] = FIRST + timedelta(hours=31)
        media = [{"url": "https://api.twilio.com/m/1", "content_type": "audio/ogg"}]
        third = await gateway.store_async(Inbound("whatsapp", ANA, "🎤", external_id="SM3", media=media), engine)
        again = await gateway.store_async(Inbound("whatsapp", ANA, "🎤", external_id="SM3"), engine)
        return [first, second, third, again]

    first, second, third, again = _stored_by_the_loop(database_url, three_messages)
    assert not first.duplicate and first.sender_id == ANA
    assert again.duplicate and again.message_id == third.message_id  # Twilio's retry: the stored one
    with session_scope() as session:
        conversation = session.scalars(select(Conversation).where(Conversation.sender_id == ANA)).one()
        assert conversation.last_inbound_at == FIRST + timedelta(hours=31)
        assert conversation.updated_at == FIRST + timedelta(hours=31)
        assert conversation.our_address == "whatsapp:+15550001111"  # kept: the later forms had no To
        assert conversation.mode == ConversationMode.BOT and conversation.channel == "whatsapp"
        assert conversation.created_at == FIRST and not conversation.reset_dialogue
        messages = session.scalars(select(Message).order_by(Message.id)).all()
        assert [message.id for message in messages] == [first.message_id, second.message_id, third.message_id]
        assert {message.conversation_id for message in messages} == {conversation.id}
        assert [(m.direction, m.status, m.channel, m.body, m.external_id) for m in messages] == [
            (Direction.INBOUND, MessageStatus.RECEIVED, "whatsapp", "hola", "SM1"),
            (Direction.INBOUND, MessageStatus.RECEIVED, "whatsapp", "sigo aquí", "SM2"),
            (Direction.INBOUND, MessageStatus.RECEIVED, "whatsapp", "🎤", "SM3")]
        assert messages[2].media == {"items": [{"url": "https://api.twilio.com/m/1", "content_type": "audio/ogg"}]}
        assert messages[0].media == {}


def test_first_messages_at_once_make_one_conversation_and_a_retry_at_once_one_message(database_url: str) -> None:
    """A debtor's first messages arrive together (and Twilio retries one of them meanwhile): each race lands in
    one conversation, every message once: in threads, and on PostgreSQL on the event loop too."""
    gateway = Gateway(EchoDialogue(), InProcessLocks())
    in_threads = "whatsapp:+525512340001"
    with ThreadPoolExecutor(max_workers=4) as pool:
        _assert_one_conversation(in_threads, list(pool.map(gateway.store, _first_messages(in_threads))))
    if database_url.startswith("postgresql"):
        on_the_loop = "whatsapp:+525512340002"

        async def at_once(engine: AsyncEngine) -> list[Stored]:
            return list(await asyncio.gather(*(gateway.store_async(inbound, engine)
                                               for inbound in _first_messages(on_the_loop))))
        _assert_one_conversation(on_the_loop, _stored_by_the_loop(database_url, at_once))


def _first_messages(sender: str) -> list[Inbound]:
    return [Inbound("whatsapp", sender, body, external_id=f"{sid}{sender[-4:]}")
            for sid, body in [("SMa", "hola"), ("SMb", "quiero pagar"), ("SMc", "cuánto debo"), ("SMc", "cuánto debo")]]


def _assert_one_conversation(sender: str, stored: list[Stored]) -> None:
    assert sorted(s.duplicate for s in stored) == [False, False, False, True]
    with session_scope() as session:
        conversations = session.scalars(select(Conversation.id).where(Conversation.sender_id == sender)).all()
        assert len(conversations) == 1
        rows = session.execute(select(Message.id, Message.external_id).where(
            Message.conversation_id == conversations[0])).all()
    assert sorted(sid for _, sid in rows) == [f"{sid}{sender[-4:]}" for sid in ("SMa", "SMb", "SMc")]
    assert {s.message_id for s in stored} == {message_id for message_id, _ in rows}


def test_on_the_event_loop_a_connection_postgresql_dropped_costs_no_message(database_url: str) -> None:
    """The async engine pings no connection before a statement (a round trip a webhook): after PostgreSQL ends
    its connections (a restart), the next message fails on the old one and is stored on a new one."""
    if not database_url.startswith("postgresql"):
        assert async_engine_for(database_url) is None
        return
    gateway = Gateway(EchoDialogue(), InProcessLocks())

    async def across_a_restart(engine: AsyncEngine) -> list[Stored]:
        before = await gateway.store_async(Inbound("whatsapp", ANA, "hola", external_id="SM1"), engine)
        with session_scope() as session:
            ended = session.scalar(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        assert ended and ended >= 1
        after = await gateway.store_async(Inbound("whatsapp", ANA, "sigo aquí", external_id="SM2"), engine)
        return [before, after]

    before, after = _stored_by_the_loop(database_url, across_a_restart)
    with session_scope() as session:
        bodies = session.scalars(select(Message.body).where(Message.id.in_([before.message_id, after.message_id]))
                                 .order_by(Message.id)).all()
    assert bodies == ["hola", "sigo aquí"]


class AnsweredElsewhere(EchoDialogue):
    """A dialogue slow enough that another process answered the first message meanwhile (its conversation lock
    expired under this turn)."""

    def respond(self, sender_id: str, text: str, metadata: dict[str, Any]) -> list[str]:
        if not self.heard:
            with session_scope() as session:
                first = session.scalar(select(func.min(Message.id)).where(Message.direction == Direction.INBOUND))
                session.execute(update(Message).where(Message.id == first).values(status=MessageStatus.PROCESSED))
        return super().respond(sender_id, text, metadata)


def test_a_turn_another_process_finished_first_stores_no_second_answer_and_goes_on(database_url: str) -> None:
    gateway = Gateway(AnsweredElsewhere(), InProcessLocks())
    first = gateway.store(Inbound("whatsapp", ANA, "hola", external_id="SM1"))
    second = gateway.store(Inbound("whatsapp", ANA, "quiero pagar", external_id="SM2"))
    assert gateway.process(ANA, MessageStatus.QUEUED) == {first.message_id: [], second.message_id: ["te leo"]}
    with session_scope() as session:
        replies = session.execute(select(Message.in_reply_to_id, Message.body)
                                  .where(Message.direction == Direction.OUTBOUND)).all()
    assert [tuple(reply) for reply in replies] == [(second.message_id, "te leo")]


CONFIRMED = "Listo, no te enviaremos más mensajes automáticos a este número. Si cambias de opinión, escribe ALTA."


class OptsOutThenFails(EchoDialogue):
    """The action server records the opt-out of the message being answered (as `stop_contact` does), then Rasa's
    answer never comes back (a timeout)."""

    def respond(self, sender_id: str, text: str, metadata: dict[str, Any]) -> list[str]:
        with session_scope() as session:
            opt_out(session, contact_key_of(sender_id), "whatsapp", source="intent", message_id=metadata["message_id"])
        raise DialogueUnavailable("timed out")


def test_an_opt_out_whose_answer_was_lost_is_still_confirmed_and_nothing_else_is_said(database_url: str) -> None:
    sender = "whatsapp:+525512340097"
    gateway = Gateway(OptsOutThenFails(), InProcessLocks())
    asked = gateway.store(Inbound("whatsapp", sender, "sí, ya no me escriban", external_id="SM97"))
    assert gateway.process(sender, MessageStatus.QUEUED) == {asked.message_id: [CONFIRMED]}  # not "en un momento…"
    # the turn's end lost after the opt-out was stored (a crash): the retry confirms it, once
    again = Gateway(EchoDialogue(), InProcessLocks())
    lost = again.store(Inbound("whatsapp", sender, "BAJA", external_id="SM98"))
    with session_scope() as session:
        session.execute(delete(OptOut))
        opt_out(session, contact_key_of(sender), "whatsapp", source="keyword", message_id=lost.message_id)
    assert again.process(sender, MessageStatus.QUEUED) == {lost.message_id: [CONFIRMED]}
    later = again.store(Inbound("whatsapp", sender, "hola", external_id="SM99"))
    assert again.process(sender, MessageStatus.QUEUED) == {later.message_id: []}
