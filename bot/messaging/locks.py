"""Per-conversation locks: one message of a conversation is processed at a time, in order.

- InProcessLocks: the embedded demo and a single app process (no Redis).
- RedisLocks (REDIS_URL): several app processes share one number. If Redis cannot be reached the lock
  is taken on the database path instead (a PostgreSQL advisory lock, or the in-process lock on SQLite),
  so the gateway keeps answering; the fallback is logged, never silent.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

import redis
from sqlalchemy import Engine, text

log = logging.getLogger(__name__)


class ConversationLocks(Protocol):
    def hold(self, key: str) -> AbstractContextManager[None]: ...


class InProcessLocks:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            yield


class DatabaseLocks:
    """PostgreSQL advisory locks (shared by every app process); in-process locks on SQLite."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = InProcessLocks()

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        if self._engine.dialect.name != "postgresql":
            with self._local.hold(key):
                yield
            return
        lock_id = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        with self._local.hold(key), self._engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": lock_id})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
                connection.commit()


class RedisLocks:
    def __init__(self, client: redis.Redis, fallback: ConversationLocks, *, timeout_seconds: float = 120,
                 wait_seconds: float = 60) -> None:
        self._client = client
        self._fallback = fallback
        self._timeout = timeout_seconds
        self._wait = wait_seconds

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        lock = self._client.lock(f"acuerdo:lock:{key}", timeout=self._timeout, blocking_timeout=self._wait)
        try:
            acquired = lock.acquire()
        except redis.ConnectionError as exc:
            log.warning("Redis unreachable (%s): locking %s on the database path", exc, key)
            with self._fallback.hold(key):
                yield
            return
        if not acquired:
            raise TimeoutError(f"conversation {key} stayed locked for {self._wait} s")
        try:
            yield
        finally:
            try:
                lock.release()
            except (redis.ConnectionError, redis.exceptions.LockError) as exc:
                log.warning("could not release the Redis lock for %s: %s (it expires by itself)", key, exc)
