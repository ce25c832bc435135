"""A feed of "something changed" for live screens: every commit in this process that wrote counts, and with Redis
every such commit in any process (app workers, the action server) is published on one channel, so a console open
on one app process hears about a hand-off another process stored. Listeners then read what changed from the
database, once for however many commits a poll brought: during a burst of replies every message commits several
times, and a console that refetched for each would cost more than the message (issue 23).
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import redis
import redis.asyncio as redis_async
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction

log = logging.getLogger(__name__)
CHANNEL = "acuerdo:changes"
_POLL_SECONDS = 0.25
_WROTE = "acuerdo_wrote"  # Session.info: this transaction wrote something (a flush, or an INSERT/UPDATE/DELETE)


def _flushed(session: Session, _flush: UOWTransaction) -> None:
    session.info[_WROTE] = True


def _executed(state: ORMExecuteState) -> None:
    # Statements skip the flush: any that is not a select() counts (a text() one may write, so it counts too).
    # Core statements run on `session.connection()` are not seen: the portfolio import, which also flushes.
    if not state.is_select:
        state.session.info[_WROTE] = True


def _ended(session: Session, transaction: SessionTransaction) -> None:
    # Only the whole transaction's end forgets: a savepoint's release also fires after_commit (a change published
    # early, then again at the real commit), and a flush runs in a sub-transaction of its own.
    if transaction.parent is None:
        session.info.pop(_WROTE, None)


def _track_writes() -> None:
    if not event.contains(Session, "after_transaction_end", _ended):
        event.listen(Session, "after_flush", _flushed)
        event.listen(Session, "do_orm_execute", _executed)
        event.listen(Session, "after_transaction_end", _ended)


class ChangeFeed:
    def __init__(self) -> None:
        self._version = 0
        self._lock = threading.Lock()
        self._redis_url: str | None = None
        self._publisher: redis.Redis | None = None
        self._installed = False
        self._announcing: asyncio.Task[None] | None = None  # on the event loop that announces (the app's one)
        self._announce_again = False

    def install(self, redis_url: str | None) -> None:
        """Count (and publish) every commit from now on; safe to call again with new settings."""
        self._redis_url = redis_url or None
        self._publisher = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1) \
            if redis_url else None
        if not self._installed:
            _track_writes()
            event.listen(Session, "after_commit", self._committed)
            self._installed = True

    def _committed(self, session: Session) -> None:
        if not session.info.get(_WROTE):
            return  # a read: nothing for a screen to show
        self._count()
        if self._publisher is not None:
            try:
                self._publisher.publish(CHANNEL, "1")
            except redis.RedisError as exc:  # a missed wake-up costs a heartbeat's delay, never a commit
                log.warning("could not publish a change: %s", exc)

    def _count(self) -> None:
        with self._lock:
            self._version += 1

    def announce(self, client: redis_async.Redis | None) -> None:
        """A write no session saw (a statement on an async connection: the webhook's store), published through
        the caller's client, bound to its event loop, by a task of its own: the caller never waits for Redis.
        Announcements while one is on its way ride on one more after it: a burst of 50 webhooks publishes a few
        times, not 50 (every listener polls 4 times a second)."""
        self._count()
        if client is None:
            return
        if self._announcing is not None:
            self._announce_again = True
            return
        self._announcing = asyncio.get_running_loop().create_task(self._publish(client))

    async def _publish(self, client: redis_async.Redis) -> None:
        try:
            while True:
                self._announce_again = False
                await client.publish(CHANNEL, "1")
                if not self._announce_again:
                    return
        except redis.RedisError as exc:  # a missed wake-up costs a heartbeat's delay
            log.warning("could not publish a change: %s", exc)
        finally:
            self._announcing = None

    async def announced(self) -> None:
        """Wait for the announcement on its way, if any (before its client closes)."""
        if self._announcing is not None:
            await asyncio.wait([self._announcing])

    @property
    def version(self) -> int:
        return self._version

    async def changes(self, heartbeat_seconds: float) -> AsyncIterator[None]:
        """Yields when a commit happened here or (with Redis) anywhere, and at least every `heartbeat_seconds`;
        at most once a poll (`_POLL_SECONDS`), however many commits came meanwhile."""
        client = redis_async.Redis.from_url(self._redis_url) if self._redis_url else None
        pubsub = client.pubsub() if client is not None else None
        try:
            if pubsub is not None:
                await pubsub.subscribe(CHANNEL)
            seen, last_yield = self._version, time.monotonic()
            while True:
                heard = False
                if pubsub is not None:
                    try:
                        heard = await pubsub.get_message(ignore_subscribe_messages=True,
                                                         timeout=_POLL_SECONDS) is not None
                    except redis.RedisError:
                        await asyncio.sleep(_POLL_SECONDS)
                else:
                    await asyncio.sleep(_POLL_SECONDS)
                now = time.monotonic()
                if heard or self._version != seen:
                    await asyncio.sleep(max(0.0, last_yield + _POLL_SECONDS - now))  # let a burst gather
                    if pubsub is not None:
                        await _drain(pubsub)  # what came meanwhile is the same news
                elif now - last_yield < heartbeat_seconds:
                    continue
                seen, last_yield = self._version, time.monotonic()
                yield
        finally:
            if pubsub is not None:
                await pubsub.aclose()
            if client is not None:
                await client.aclose()


async def _drain(pubsub: Any) -> None:
    try:
        while await pubsub.get_message(ignore_subscribe_messages=True, timeout=0) is not None:
            pass
    except redis.RedisError:
        return  # the next poll meets it again


change_feed = ChangeFeed()
