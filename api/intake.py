"""REST mode's webhook: store the message, hand its conversation to the reply side, and let Twilio go.

All of it on the app's event loop. On PostgreSQL the message is stored by one statement on an async connection
and handed over by one Redis command: a burst of webhooks never queues for worker threads, where a thread
hand-off and the interpreter lock passed among dozens of threads cost each webhook more than its SQL did
(issue 23). SQLite, the embedded default, stores in a worker thread as every other route does.
"""
from __future__ import annotations

import redis.asyncio as redis_async
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.concurrency import run_in_threadpool

from api.deps import get_gateway
from api.replies import Replies, replies_for_app
from bot.common.settings import get_settings
from bot.ledger.changes import change_feed
from bot.messaging.gateway import Inbound, Stored
from bot.messaging.inbound_store import async_engine_for


class Intake:
    def __init__(self, engine: AsyncEngine | None, client: redis_async.Redis | None, replies: Replies) -> None:
        self._engine = engine
        self._client = client
        self._replies = replies

    async def take(self, inbound: Inbound) -> Stored:
        """Stored (and committed) before it returns; a repeated MessageSid comes back as the stored message."""
        if self._engine is None:
            stored = await run_in_threadpool(get_gateway().store, inbound)
        else:
            stored = await get_gateway().store_async(inbound, self._engine)
            change_feed.announce(self._client)  # a live console shows the new message
        # A repeated MessageSid is handed over too: the first delivery may have been stored and then lost its
        # hand-over (a dropped connection, a cancelled request); a conversation with nothing waiting costs a look.
        await self._replies.hand_over(stored.sender_id)
        return stored

    async def close(self) -> None:
        await self._replies.close()
        await change_feed.announced()
        if self._engine is not None:
            await self._engine.dispose()
        if self._client is not None:
            await self._client.aclose()


def open_intake() -> Intake:
    """The app's, made in its lifespan: the async engine and Redis client belong to the app's event loop."""
    settings = get_settings()
    client = redis_async.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2) \
        if settings.redis_url else None
    return Intake(async_engine_for(settings.database_url), client, replies_for_app(client))
