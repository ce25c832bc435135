"""What the webhook stores before it answers Twilio (Gateway.store): the message, and on its conversation when the
debtor last wrote (the WhatsApp 24-hour window) and which of our numbers they wrote to (replies go from it)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.ledger.db import session_scope
from bot.ledger.models import Conversation, Direction, Message, MessageStatus
from bot.messaging.gateway import Gateway, Inbound
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
