"""The retry worker: messages that waited for the bot are tried again, and queued replies leave."""
from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from api.deps import get_gateway, get_transport, rasa_api
from bot.admin import inbox
from bot.common.settings import get_settings
from bot.ledger.db import session_scope
from bot.ledger.models import utcnow
from bot.messaging.outbox import Transport, send_queued

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
    """Send what is queued (replies, receipts), a conversation at a time under the lock its reply threads send
    under; anything that fails stays recorded on its message."""
    with session_scope() as session:
        send_queued(session, transport, utcnow(), checkpoint=session.commit, hold=get_gateway().sending)


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
