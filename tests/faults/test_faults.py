"""Kill and restart the action server, Rasa and Redis mid-conversation: every inbound message is processed
exactly once, in order, and nothing is lost. Runs its own production-like stack (PostgreSQL, Redis, Rasa's
Redis tracker and lock stores), since it breaks it on purpose."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

import api.deps
from api.main import create_app
from api.worker import run_once
from bot.common.copy import app_message
from bot.ledger.db import session_scope
from bot.ledger.models import Conversation, ConversationMode, Direction, Message, MessageStatus, utcnow
from bot.messaging.conversations import handoff_eta
from scripts.services import Postgres, start_redis
from tests.api.conftest import signed_post, twiml_messages, whatsapp_form
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL, Stack, create_database, refresh_app_state, start_stack
from tests.expected import ASK, GREETING, retry
from tests.fakes.twilio_api import FakeTwilio

pytestmark = pytest.mark.e2e

HOLDING = "Recibí tu mensaje. Estoy teniendo un problema técnico y te respondo en unos minutos."


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory, postgres: Postgres) -> Iterator[tuple[Stack, object]]:
    redis = start_redis()
    stack = start_stack("faults", create_database(postgres, "faults"), redis.url, tmp_path_factory.mktemp("faults"))
    yield stack, redis
    stack.servers.stop()
    redis.stop()


@pytest.fixture
def fault_client(fault_stack: tuple[Stack, object], fake_twilio: FakeTwilio,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    stack, _ = fault_stack
    for key, value in {"DATABASE_URL": stack.database_url, "RASA_URL": stack.servers.rasa_url,
                       "REDIS_URL": stack.redis_url or "", "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
                       "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_BASE": fake_twilio.url,
                       "RASA_TIMEOUT_SECONDS": "5", "RETRY_INTERVAL_SECONDS": "3600",
                       "BOT_HANDOFF_AFTER_SECONDS": "300", "REPLY_MODE": "twiml"}.items():
        monkeypatch.setenv(key, value)
    refresh_app_state()
    fake_twilio.sent.clear()
    with TestClient(create_app()) as client:
        yield client
    refresh_app_state()


def say(client: TestClient, number: str, text: str, **form: str) -> list[str]:
    return twiml_messages(signed_post(client, "/webhooks/twilio/whatsapp", {**whatsapp_form(number, text), **form}))


def inbound_of(url: str, sender_id: str) -> list[Message]:
    with session_scope(url) as session:
        return list(session.scalars(select(Message).join(Conversation).where(
            Conversation.sender_id == sender_id, Message.direction == Direction.INBOUND).order_by(Message.id)))


def replies_to(url: str, message_id: int) -> list[str]:
    with session_scope(url) as session:
        return list(session.scalars(select(Message.body).where(Message.in_reply_to_id == message_id)
                                    .order_by(Message.id)))


def assert_processed_once_in_order(url: str, sender_id: str, count: int) -> list[Message]:
    inbound = inbound_of(url, sender_id)
    assert len(inbound) == count  # nothing lost, nothing doubled
    assert all(message.status is MessageStatus.PROCESSED for message in inbound)
    assert [m.processed_at for m in inbound] == sorted(m.processed_at for m in inbound)
    return inbound


def test_action_server_crash_then_recovery(fault_stack, fault_client: TestClient, fake_twilio: FakeTwilio) -> None:
    stack, _ = fault_stack
    number, sender_id = "+5215500000401", "whatsapp:+525500000401"
    assert say(fault_client, number, "hola") == [GREETING, ASK]
    stack.servers.kill("actions")
    try:
        assert say(fault_client, number, "1234") == [HOLDING]  # Rasa answers empty: counts as down
        assert say(fault_client, number, "5678") == []  # waits behind, no second holding reply
        run_once()  # still down: stays pending, still one holding reply
        assert [m.status for m in inbound_of(stack.database_url, sender_id)][1:] == [
            MessageStatus.PENDING, MessageStatus.RECEIVED]
    finally:
        stack.servers.restart("actions")
    run_once()
    inbound = assert_processed_once_in_order(stack.database_url, sender_id, 3)
    assert replies_to(stack.database_url, inbound[1].id) == [HOLDING, retry(2)]
    assert replies_to(stack.database_url, inbound[2].id) == [retry(1)]
    assert [m["Body"] for m in fake_twilio.sent] == [retry(2), retry(1)]  # via REST


def test_redis_down_the_gateway_keeps_going_on_the_database(fault_stack, fault_client: TestClient,
                                                            fake_twilio: FakeTwilio) -> None:
    stack, redis = fault_stack
    number, sender_id = "+5215500000402", "whatsapp:+525500000402"
    form = whatsapp_form(number, "hola")
    redis.stop()
    try:
        replies = twiml_messages(signed_post(fault_client, "/webhooks/twilio/whatsapp", form))
        assert replies == [HOLDING]  # locks on PostgreSQL; Rasa cannot reach its tracker store
        assert twiml_messages(signed_post(fault_client, "/webhooks/twilio/whatsapp", form)) == []  # retry: once
        assert say(fault_client, number, "eres un robot?") == []
    finally:
        restarted = start_redis(redis.port)
        redis.process = restarted.process
    run_once()
    inbound = assert_processed_once_in_order(stack.database_url, sender_id, 2)
    assert replies_to(stack.database_url, inbound[0].id) == [HOLDING, GREETING, ASK]
    assert [m["Body"] for m in fake_twilio.sent][:2] == [GREETING, ASK]


def test_rasa_crash_mid_form_then_recovery_and_a_long_outage_goes_to_a_human(
        fault_stack, fault_client: TestClient, fake_twilio: FakeTwilio) -> None:
    stack, _ = fault_stack
    number, sender_id = "+5215500000403", "whatsapp:+525500000403"
    stranded, stranded_id = "+5215500000404", "whatsapp:+525500000404"
    assert say(fault_client, number, "hola") == [GREETING, ASK]
    stack.servers.kill("rasa")
    try:
        assert say(fault_client, number, "1234") == [HOLDING]
        assert say(fault_client, stranded, "cuánto debo?") == [HOLDING]
        with session_scope(stack.database_url) as session:  # as if it had waited past the configured time
            session.execute(update(Message).where(Message.external_id == inbound_of(
                stack.database_url, stranded_id)[0].external_id).values(created_at=utcnow() - timedelta(hours=1)))
        run_once()
        with session_scope(stack.database_url) as session:
            conversation = session.scalars(select(Conversation).where(Conversation.sender_id == stranded_id)).one()
            assert (conversation.mode, conversation.mode_reason) == (ConversationMode.QUEUED, "bot_error")
        assert [m["Body"] for m in fake_twilio.sent] == [
            "Disculpa la demora. Una persona de nuestro equipo seguirá esta conversación por aquí, "
            f"{handoff_eta('MX', utcnow())}."]
    finally:
        stack.servers.restart("rasa")
    run_once()
    # the form survived the restart in Redis: the answer is checked as the first failed attempt
    inbound = assert_processed_once_in_order(stack.database_url, sender_id, 2)
    assert replies_to(stack.database_url, inbound[1].id) == [HOLDING, retry(2)]
    assert_processed_once_in_order(stack.database_url, stranded_id, 1)
    # a human has it now: the bot stays out, and only says the message reached the case (once)
    assert say(fault_client, stranded, "hola") == [
        app_message("utter_waiting_for_person", when=handoff_eta("MX", utcnow()))]
    assert say(fault_client, stranded, "¿hola?") == []
    api.deps.reset()
