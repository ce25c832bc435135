"""The retry worker: messages that waited for the bot are tried again, and queued replies leave."""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import select

from api.deps import get_gateway, get_transport, rasa_api
from bot.admin import inbox
from bot.common.settings import get_settings
from bot.ledger.db import session_scope
from bot.ledger.models import Conversation, MessageStatus, utcnow
from bot.messaging.gateway import Gateway
from bot.messaging.outbox import Transport, send_queued, send_replies_of

log = logging.getLogger(__name__)


def run_once() -> None:
    """One pass: retry waiting conversations (or hand them to a human), then send the outbox."""
    settings = get_settings()
    get_gateway().resume_waiting(handoff_after=timedelta(seconds=settings.bot_handoff_after_seconds))
    flush_outbox(get_transport())


def refresh_inbox() -> None:
    """Real messages the model was unsure of, into the admins' NLU inbox (bot.admin.inbox)."""
    with session_scope() as session:
        inbox.refresh(session, rasa_api(), utcnow(), max_chars=get_settings().max_text_chars)


def flush_outbox(transport: Transport) -> None:
    """Send what is queued (replies, receipts); anything that fails stays recorded on its message."""
    with session_scope() as session:
        send_queued(session, transport, utcnow(), checkpoint=session.commit)


def answer_and_send(gateway: Gateway, transport: Transport, sender_id: str) -> None:
    """REST mode, after the webhook answered Twilio: the dialogue, then this conversation's replies out."""
    gateway.process(sender_id, MessageStatus.QUEUED)
    with session_scope() as session:
        conversation_id = session.scalar(select(Conversation.id).where(Conversation.sender_id == sender_id))
        if conversation_id is not None:
            send_replies_of(session, transport, conversation_id, utcnow(), checkpoint=session.commit)


class ReplyDispatcher:
    """REST mode: the webhook stores the message and returns; these threads run the dialogue and send the replies.

    Threads of their own, not the request thread pool: debtors waiting on Rasa during a burst never delay the
    acknowledgement Twilio waits for. A conversation already queued is not queued again (its turn handles every
    message waiting by then). Nothing is lost in a crash: stored messages are the retry worker's (run_once).
    """

    def __init__(self, threads: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="acuerdo-reply")
        self._queued: set[str] = set()
        self._lock = threading.Lock()

    def submit(self, sender_id: str) -> None:
        with self._lock:
            if sender_id in self._queued:
                return
            self._queued.add(sender_id)
        self._pool.submit(self._run, sender_id)

    def _run(self, sender_id: str) -> None:
        with self._lock:
            self._queued.discard(sender_id)  # a message arriving from now on queues another turn
        try:
            answer_and_send(get_gateway(), get_transport(), sender_id)
        except Exception:  # the message stays stored and waiting: the retry worker tries again
            log.exception("answering %s failed", sender_id)

    def stop(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)


class RetryWorker:
    def __init__(self, interval_seconds: float) -> None:
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="acuerdo-retry", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        inbox_every = get_settings().nlu_inbox_refresh_minutes * 60
        inbox_due = time.monotonic() + inbox_every
        while not self._stop.wait(self._interval):
            try:
                run_once()
            except Exception:  # keep retrying: a failed pass leaves everything stored for the next one
                log.exception("retry pass failed")
            if inbox_every and time.monotonic() >= inbox_due:
                inbox_due = time.monotonic() + inbox_every
                try:
                    refresh_inbox()
                except Exception:  # Rasa down: the messages wait for the next look
                    log.exception("NLU inbox refresh failed")
