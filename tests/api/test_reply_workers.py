"""REST mode with reply workers apart (production: REPLIES_IN_APP=false, `python -m api.replies`): the webhook
stores and queues in Redis, a worker answers; with no worker, the app's retry pass answers. Real Rasa, Redis,
PostgreSQL; Twilio is the local fake behind the official SDK."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import redis
from fastapi.testclient import TestClient

from api import replies
from api.deps import get_gateway, get_redis, get_transport
from api.main import create_app
from api.worker import flush_outbox
from bot.ledger.db import session_scope
from bot.ledger.models import Direction, MessageStatus, utcnow
from bot.messaging.conversations import get_or_create_conversation
from bot.messaging.outbox import store_outbound
from scripts.services import Redis as RedisServer
from tests.api.conftest import eventually, signed_post, sms_form, twiml_messages
from tests.api.test_twilio_gateway import stored
from tests.conftest import Stack, refresh_app_state
from tests.expected import ASK, GREETING
from tests.fakes.twilio_api import FakeTwilio


@pytest.fixture
def queued_client(app_env: pytest.MonkeyPatch) -> Iterator[TestClient]:
    app_env.setenv("REPLY_MODE", "rest")
    app_env.setenv("REPLIES_IN_APP", "false")
    refresh_app_state()
    with TestClient(create_app()) as client:
        yield client


def sent_to(fake_twilio: FakeTwilio, number: str) -> list[str]:
    return [message["Body"] for message in fake_twilio.sent if message["To"] == number]


@pytest.mark.parametrize("stack", ["production"], indirect=True)
def test_a_reply_worker_answers_what_the_webhook_queued(queued_client: TestClient, fake_twilio: FakeTwilio,
                                                        stack: Stack) -> None:
    client = get_redis()
    assert client is not None
    stopped = threading.Event()
    worker = threading.Thread(target=replies.serve, args=(stopped, client, 2), daemon=True)
    worker.start()
    try:
        response = signed_post(queued_client, "/webhooks/twilio/sms", sms_form("+5215500000121", "hola"))
        assert response.status_code == 200 and twiml_messages(response) == []
        assert eventually(lambda: len(sent_to(fake_twilio, "+525500000121")) >= 2)
    finally:
        stopped.set()
        worker.join(timeout=30)
    assert sent_to(fake_twilio, "+525500000121") == [GREETING, ASK]
    inbound = stored(stack.database_url, "sms:+525500000121", Direction.INBOUND)
    assert [m.status for m in inbound] == [MessageStatus.PROCESSED]


@pytest.mark.parametrize("stack", ["production"], indirect=True)
def test_with_no_reply_worker_the_retry_pass_answers(queued_client: TestClient, fake_twilio: FakeTwilio,
                                                     stack: Stack) -> None:
    client = get_redis()
    assert client is not None
    client.delete(replies.QUEUE_KEY)
    signed_post(queued_client, "/webhooks/twilio/sms", sms_form("+5215500000122", "hola"))
    assert client.lrange(replies.QUEUE_KEY, 0, -1) == [b"sms:+525500000122"]  # queued, nobody took it
    inbound = stored(stack.database_url, "sms:+525500000122", Direction.INBOUND)
    assert [m.status for m in inbound] == [MessageStatus.RECEIVED]  # stored before anything acted on it
    assert sent_to(fake_twilio, "+525500000122") == []
    # The retry pass (api.worker.run_once), without its settle time: it takes messages a few seconds old.
    get_gateway().resume_waiting(handoff_after=timedelta(minutes=5), settle=timedelta(0))
    flush_outbox(get_transport())
    client.delete(replies.QUEUE_KEY)
    assert sent_to(fake_twilio, "+525500000122") == [GREETING, ASK]


@pytest.mark.parametrize("stack", ["production"], indirect=True)
def test_a_twilio_retry_hands_over_again_what_lost_its_hand_over(queued_client: TestClient, stack: Stack) -> None:
    client = get_redis()
    assert client is not None
    client.delete(replies.QUEUE_KEY)
    form = sms_form("+5215500000124", "hola")
    signed_post(queued_client, "/webhooks/twilio/sms", form)
    client.delete(replies.QUEUE_KEY)  # the push was lost (Redis restarted; the request cut after the store)
    retry = signed_post(queued_client, "/webhooks/twilio/sms", form)  # the same MessageSid again
    assert retry.status_code == 200 and client.lrange(replies.QUEUE_KEY, 0, -1) == [b"sms:+525500000124"]
    client.delete(replies.QUEUE_KEY)
    assert len(stored(stack.database_url, "sms:+525500000124", Direction.INBOUND)) == 1  # stored once


def test_every_response_says_how_long_the_app_took(client: TestClient) -> None:
    response = client.get("/healthz")
    name, _, duration = response.headers["server-timing"].partition(";dur=")
    assert name == "app" and float(duration) >= 0


def test_a_conversation_holds_one_reply_thread_however_fast_its_debtor_writes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages arriving during a conversation's turn make that turn look once more; they never queue turns
    that would each hold a thread waiting on the same conversation lock (the scheduling, with the turn's work
    replaced by a recorder: the work itself is the gateway's, tested above and in tests/faults)."""
    release = threading.Event()
    turns: list[str] = []
    at_once = {"now": 0, "most": 0}
    lock = threading.Lock()

    def turn(_gateway: object, _transport: object, sender_id: str) -> None:
        with lock:
            at_once["now"] += 1
            at_once["most"] = max(at_once["most"], at_once["now"])
        turns.append(sender_id)
        if len(turns) == 1:
            release.wait(timeout=10)
        with lock:
            at_once["now"] -= 1

    monkeypatch.setattr(replies, "answer_and_send", turn)
    monkeypatch.setattr(replies, "get_gateway", lambda: None)
    monkeypatch.setattr(replies, "get_transport", lambda: None)
    dispatcher = replies.ReplyDispatcher(threads=4)
    dispatcher.submit("whatsapp:+525500000131")
    eventually(lambda: turns)
    for _ in range(5):  # the debtor keeps typing while the first turn runs
        dispatcher.submit("whatsapp:+525500000131")
    dispatcher.submit("whatsapp:+525500000132")  # another debtor is not held up
    eventually(lambda: "whatsapp:+525500000132" in turns)
    release.set()
    dispatcher.stop()
    assert turns.count("whatsapp:+525500000131") == 2  # the turn, then one more look
    assert at_once["most"] == 2  # one thread per conversation


@pytest.mark.parametrize("stack", ["production"], indirect=True)
@pytest.mark.parametrize("other_sender", ["a reply thread", "the retry worker's flush"])
def test_two_senders_of_one_conversation_send_its_replies_one_at_a_time_in_order(
        queued_client: TestClient, fake_twilio: FakeTwilio, stack: Stack, other_sender: str) -> None:
    # Two senders of one conversation at once (two reply threads or processes, or one and the retry pass): each
    # finds the same queued replies. Claims already keep a reply from going twice; the sending lock also keeps
    # them from going side by side, where a slow send lets a later reply arrive first.
    sender_id = "sms:+525500000123"
    with session_scope(stack.database_url) as session:
        conversation = get_or_create_conversation(session, sender_id)
        for text in ("uno", "dos", "tres", "cuatro"):
            store_outbound(session, conversation, text, utcnow(), status=MessageStatus.QUEUED)
    fake_twilio.latency = 0.2
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            first = pool.submit(replies.answer_and_send, get_gateway(), get_transport(), sender_id)
            if other_sender == "a reply thread":
                second = pool.submit(replies.answer_and_send, get_gateway(), get_transport(), sender_id)
            else:
                second = pool.submit(flush_outbox, get_transport())
            first.result(), second.result()
    finally:
        fake_twilio.latency = 0.0
    assert sent_to(fake_twilio, "+525500000123") == ["uno", "dos", "tres", "cuatro"]
    assert fake_twilio.most_in_flight["+525500000123"] == 1


def test_a_reply_worker_takes_from_redis_only_what_its_threads_can_start(monkeypatch: pytest.MonkeyPatch,
                                                                         redis_server: RedisServer) -> None:
    """With its one thread busy, a worker leaves the other conversations in Redis for other workers: it holds a
    thread's slot before it takes (seeing one free and then taking was a race that let one worker take many)."""
    release = threading.Event()
    turns: list[str] = []

    def turn(_gateway: object, _transport: object, sender_id: str) -> None:
        turns.append(sender_id)
        release.wait(timeout=10)

    monkeypatch.setattr(replies, "answer_and_send", turn)
    monkeypatch.setattr(replies, "get_gateway", lambda: None)
    monkeypatch.setattr(replies, "get_transport", lambda: None)
    client = redis.Redis.from_url(redis_server.url)
    client.delete(replies.QUEUE_KEY)
    client.rpush(replies.QUEUE_KEY, "sms:+525500000141", "sms:+525500000142", "sms:+525500000143")
    stopped = threading.Event()
    worker = threading.Thread(target=replies.serve, args=(stopped, client, 1), daemon=True)
    worker.start()
    try:
        eventually(lambda: turns)
        time.sleep(1.5)  # time enough to take more, were it to
        assert client.llen(replies.QUEUE_KEY) == 2 and turns == ["sms:+525500000141"]
        release.set()
        eventually(lambda: len(turns) == 3)  # one at a time, as its thread frees
    finally:
        release.set()
        stopped.set()
        worker.join(timeout=30)
        client.delete(replies.QUEUE_KEY)
        client.close()


def test_a_conversation_handed_over_after_the_reply_threads_stopped_waits_for_the_retry_pass() -> None:
    """Shutting down, a webhook still stores and hands over: no error for Twilio, and the slot taken for it is
    given back (the message stays waiting for the retry pass)."""
    dispatcher = replies.ReplyDispatcher(threads=1)
    dispatcher.stop()
    dispatcher.submit("sms:+525500000151")
    stopped = threading.Event()
    assert dispatcher.reserve(stopped)
    dispatcher.submit("sms:+525500000152", reserved=True)
    timer = threading.Timer(3, stopped.set)  # a slot never given back: reserve gives up, False
    timer.start()
    try:
        assert dispatcher.reserve(stopped)  # the one slot came back
    finally:
        timer.cancel()
