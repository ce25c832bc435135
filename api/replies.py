"""REST mode: the webhook stores a message and answers Twilio; the dialogue and the replies happen here.

Two ways to run it:
- in the app (REPLIES_IN_APP=true, the default and the demo): a pool of reply threads in the app process;
- `python -m api.replies` (REPLIES_IN_APP=false, production): the app pushes the conversation onto a Redis list
  and reply workers, processes of their own, take it from there. Their threads then never compete with the
  webhook for the app's interpreter lock, so Twilio's acknowledgement stays fast under a burst.

Nothing is lost either way: the message is stored before the webhook answers, and the app's retry worker
(api.worker) takes any message that waited more than a few seconds, whether a push was lost or a worker died.
"""
from __future__ import annotations

import logging
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import redis
import redis.asyncio as redis_async

from api.deps import get_gateway, get_redis, get_transport
from bot.common.heap import freeze_startup_objects
from bot.common.settings import exit_if_unsafe, get_settings
from bot.ledger.changes import change_feed
from bot.ledger.db import session_scope
from bot.ledger.models import MessageStatus, utcnow
from bot.messaging.gateway import Gateway
from bot.messaging.outbox import Transport, send_replies_of

log = logging.getLogger(__name__)
QUEUE_KEY = "acuerdo:replies"


class Replies(Protocol):
    """The app's side of REST mode: on its event loop, so nothing here may block."""

    async def hand_over(self, sender_id: str) -> None:
        """Answer this conversation's waiting messages soon (the webhook has stored them)."""
        ...

    async def close(self) -> None:
        ...


def answer_and_send(gateway: Gateway, transport: Transport, sender_id: str) -> None:
    """The dialogue for every waiting message of the conversation, then its replies out, in order."""
    gateway.process(sender_id, MessageStatus.QUEUED)
    with gateway.sending(sender_id), session_scope() as session:
        send_replies_of(session, transport, sender_id, utcnow(), checkpoint=session.commit)


class ReplyDispatcher:
    """Reply threads, at most one per conversation: a message arriving while its conversation's turn runs only
    asks that turn to look once more when it ends (so a debtor typing fast never holds several threads, each
    waiting on the same conversation lock), and the turn handles every message waiting by then."""

    def __init__(self, threads: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="acuerdo-reply")
        self._slots = threading.BoundedSemaphore(threads)
        self._queued: set[str] = set()  # submitted, its turn not started
        self._running: set[str] = set()
        self._again: set[str] = set()  # a message came while its turn ran
        self._lock = threading.Lock()

    def submit(self, sender_id: str, *, reserved: bool = False) -> None:
        """Answer this conversation soon. `reserved`: the caller holds a thread's slot (`reserve`) for it, which
        the turn then uses, or which is given back at once when the conversation already has its turn."""
        with self._lock:
            if sender_id in self._running:
                self._again.add(sender_id)
            elif sender_id not in self._queued:
                try:
                    self._pool.submit(self._run, sender_id, reserved)
                except RuntimeError:  # shutting down: stored and waiting, the retry pass answers it
                    log.warning("reply threads stopped; %s waits for the retry pass", sender_id)
                else:
                    self._queued.add(sender_id)
                    return
        if reserved:
            self._slots.release()

    def reserve(self, stopped: threading.Event) -> bool:
        """Hold a free reply thread's slot (a worker takes from Redis only what it can start now, leaving the rest
        to other workers; taken, not only seen free, so two takes never count on one thread); False if `stopped`
        first. The slot goes to `submit(…, reserved=True)` or back through `release`."""
        while not stopped.is_set():
            if self._slots.acquire(timeout=0.5):
                return True
        return False

    def release(self) -> None:
        self._slots.release()

    def _run(self, sender_id: str, reserved: bool) -> None:
        if not reserved:
            self._slots.acquire()
        try:
            with self._lock:
                self._queued.discard(sender_id)
                self._running.add(sender_id)
            while True:
                try:
                    answer_and_send(get_gateway(), get_transport(), sender_id)
                except Exception:  # the message stays stored and waiting: the retry worker tries again
                    log.exception("answering %s failed", sender_id)
                with self._lock:
                    if sender_id not in self._again:
                        self._running.discard(sender_id)
                        return
                    self._again.discard(sender_id)
        finally:
            self._slots.release()

    def stop(self) -> None:
        """Finish the turns in hand; turns not started stay stored, for the retry pass (never cut mid-turn)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


class InAppReplies:
    """The app's own reply threads (REPLIES_IN_APP, the demo): handing over starts a turn, or marks one running."""

    def __init__(self, dispatcher: ReplyDispatcher) -> None:
        self._dispatcher = dispatcher

    async def hand_over(self, sender_id: str) -> None:
        self._dispatcher.submit(sender_id)

    async def close(self) -> None:
        self._dispatcher.stop()


class RedisReplies:
    """The app's side when reply workers run apart: one push per stored message."""

    def __init__(self, client: redis_async.Redis) -> None:
        self._client = client

    async def hand_over(self, sender_id: str) -> None:
        try:
            await self._client.rpush(QUEUE_KEY, sender_id)
        except redis.RedisError:  # stored already: the retry worker answers it in a few seconds
            log.warning("could not queue %s for a reply worker", sender_id, exc_info=True)

    async def close(self) -> None:
        pass  # the client is the caller's


def replies_for_app(client: redis_async.Redis | None) -> Replies:
    """What the webhook hands conversations to: the app's reply threads, or (with Redis, REPLIES_IN_APP=false)
    reply workers apart, through `client` (the app's, on its event loop)."""
    settings = get_settings()
    if settings.replies_in_app or client is None:
        return InAppReplies(ReplyDispatcher(settings.reply_threads))
    return RedisReplies(client)


def serve(stopped: threading.Event, client: redis.Redis, threads: int) -> None:
    """Take conversations off the Redis list until `stopped`."""
    dispatcher = ReplyDispatcher(threads)
    try:
        while dispatcher.reserve(stopped):
            try:
                item = client.blpop([QUEUE_KEY], timeout=1)
            except redis.RedisError:
                log.warning("Redis unavailable; retrying", exc_info=True)
                item = None
                stopped.wait(1)
            if item is None:
                dispatcher.release()
                continue
            sender_id = item[1]
            dispatcher.submit(sender_id.decode() if isinstance(sender_id, bytes) else str(sender_id), reserved=True)
    finally:
        dispatcher.stop()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    exit_if_unsafe("the reply worker")
    client = get_redis()
    if client is None:
        raise SystemExit("the reply worker needs REDIS_URL (without Redis the app answers itself: REPLIES_IN_APP)")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    change_feed.install(get_settings().redis_url)  # the replies, opt-outs and hand-offs stored here wake the consoles
    freeze_startup_objects()
    log.info("reply worker started (%d threads)", get_settings().reply_threads)
    try:
        serve(stopped, client, get_settings().reply_threads)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
