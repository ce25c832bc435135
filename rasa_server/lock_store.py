"""A Redis lock store for Rasa with two round trips a message, on Rasa's event loop without blocking it (issue 23).

Rasa 3.6's `RedisLockStore` keeps a queue of tickets per conversation as JSON and, for every message, makes seven
blocking Redis calls on Rasa's event loop (a ticket: read and write; the turn: read; giving it back: read, write,
read, delete), during which every other turn on that server waits; and two servers issuing a ticket at once can
both read the same queue and hand out the same ticket. Under a burst it was an eighth of Rasa's time.

A conversation's turns already reach Rasa one at a time: the gateway holds the conversation's own lock over each
(bot.messaging.locks), so no queue of waiters needs its order kept here. This store is a plain mutex per
conversation: `SET key token NX PX lifetime` takes it, a compare-and-delete script gives it back (never a lock
that expired and someone else took since), both atomic and on `redis.asyncio`. A turn that finds it taken (an
admin's call into the same conversation, a turn whose gateway lock expired) polls every `POLL_SECONDS` (Rasa's:
a second) until the lifetime has passed, then raises Rasa's `LockError`, as Rasa's store does.

Configured in the endpoints as `type: rasa_server.lock_store.RedisMutexLockStore`, with the stock store's
parameters (url, port, db, username, password, use_ssl, key_prefix, socket_timeout)."""
from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as redis_async
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

POLL_SECONDS = 0.02
KEY_PREFIX = "mutex:"  # not Rasa's "lock:": its keys hold a ticket queue as JSON
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class RedisMutexLockStore(LockStore):
    def __init__(self, endpoint_config: EndpointConfig) -> None:
        super().__init__()
        options: dict[str, Any] = dict(endpoint_config.kwargs)
        prefix = options.get("key_prefix")
        self.key_prefix = f"{prefix}:{KEY_PREFIX}" if isinstance(prefix, str) and prefix.isalnum() else KEY_PREFIX
        self.red = redis_async.Redis(
            host=endpoint_config.url or "localhost", port=int(options.get("port", 6379)),
            db=int(options.get("db", 1)), username=options.get("username"), password=options.get("password"),
            ssl=bool(options.get("use_ssl", False)), socket_timeout=float(options.get("socket_timeout", 10)))
        self._release = self.red.register_script(_RELEASE)

    @asynccontextmanager
    async def lock(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = POLL_SECONDS) -> AsyncGenerator[TicketLock, None]:
        key, token = self.key_prefix + conversation_id, uuid.uuid4().hex
        deadline = time.monotonic() + lock_lifetime
        try:  # from the first SET on: a turn cancelled (its client gone) just after Redis took it still gives it back
            while not await self.red.set(key, token, nx=True, px=max(1, int(lock_lifetime * 1000))):
                if time.monotonic() >= deadline:
                    raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")
                await asyncio.sleep(min(wait_time_in_seconds, POLL_SECONDS))
            yield TicketLock(conversation_id)  # what Rasa's own store yields (its callers do not use it)
        finally:  # only if it is still ours; shielded, so a cancellation does not cut the release short
            await asyncio.shield(self._release(keys=[key], args=[token]))
