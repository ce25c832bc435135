"""A feed of "something changed" for live screens: every commit in this process counts, and with Redis every
commit in any process (app workers, the action server) is published on one channel, so a console open on one
app process hears about a hand-off another process stored. Listeners then read what changed from the database.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import redis
import redis.asyncio as redis_async
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
CHANNEL = "acuerdo:changes"
_POLL_SECONDS = 0.25


class ChangeFeed:
    def __init__(self) -> None:
        self._version = 0
        self._lock = threading.Lock()
        self._redis_url: str | None = None
        self._publisher: redis.Redis | None = None
        self._installed = False

    def install(self, redis_url: str | None) -> None:
        """Count (and publish) every commit from now on; safe to call again with new settings."""
        self._redis_url = redis_url or None
        self._publisher = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1) \
            if redis_url else None
        if not self._installed:
            event.listen(Session, "after_commit", self._committed)
            self._installed = True

    def _committed(self, _session: Any) -> None:
        with self._lock:
            self._version += 1
        if self._publisher is not None:
            try:
                self._publisher.publish(CHANNEL, "1")
            except redis.RedisError as exc:  # a missed wake-up costs a heartbeat's delay, never a commit
                log.warning("could not publish a change: %s", exc)

    @property
    def version(self) -> int:
        return self._version

    async def changes(self, heartbeat_seconds: float) -> AsyncIterator[None]:
        """Yields when a commit happened here or (with Redis) anywhere, and at least every `heartbeat_seconds`."""
        client = redis_async.Redis.from_url(self._redis_url) if self._redis_url else None
        pubsub = client.pubsub() if client is not None else None
        try:
            if pubsub is not None:
                await pubsub.subscribe(CHANNEL)
            seen, waited = self._version, 0.0
            while True:
                heard = None
                if pubsub is not None:
                    try:
                        heard = await pubsub.get_message(ignore_subscribe_messages=True, timeout=_POLL_SECONDS)
                    except redis.RedisError:
                        await asyncio.sleep(_POLL_SECONDS)
                else:
                    await asyncio.sleep(_POLL_SECONDS)
                waited += _POLL_SECONDS
                if heard is not None or self._version != seen or waited >= heartbeat_seconds:
                    seen, waited = self._version, 0.0
                    yield
        finally:
            if pubsub is not None:
                await pubsub.aclose()
            if client is not None:
                await client.aclose()


change_feed = ChangeFeed()
