"""Per-conversation locks: one message of a conversation is processed at a time, in order.

In-process locks serve the embedded demo and a single app process; Redis locks (REDIS_URL) let several
app processes share one number.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class ConversationLocks(Protocol):
    def hold(self, key: str) -> Iterator[None]: ...


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
