"""What routes depend on: a database session per request, and process-wide collaborators built once from
the settings (tests rebuild them with `reset`). Routes name them through the `Annotated` aliases below."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from typing import Annotated

import redis
from fastapi import Depends
from sqlalchemy.orm import Session

from api.twilio_sender import TwilioTransport
from bot.common.settings import get_settings
from bot.ledger.db import get_engine, session_scope
from bot.messaging.dialogue import RasaDialogue
from bot.messaging.dialogue_route import LiveRasaUrl, rasa_roles
from bot.messaging.gateway import Gateway
from bot.messaging.locks import ConversationLocks, DatabaseLocks, InProcessLocks, RedisLocks
from bot.messaging.outbox import OutboundRequest, Transport


@lru_cache(maxsize=1)
def get_redis() -> redis.Redis | None:
    url = get_settings().redis_url
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2) if url else None


def _locks() -> ConversationLocks:
    client = get_redis()
    if client is None:
        return InProcessLocks()
    return RedisLocks(client, fallback=DatabaseLocks(get_engine()))


@lru_cache(maxsize=1)
def live_rasa_url() -> LiveRasaUrl:
    """The Rasa server that is live now (the dialogue route in the database; RASA_URL before any switch)."""
    settings = get_settings()
    return LiveRasaUrl(settings.rasa_url, roles=rasa_roles(settings))


@lru_cache(maxsize=1)
def get_gateway() -> Gateway:
    settings = get_settings()
    return Gateway(RasaDialogue(live_rasa_url(), settings.rasa_timeout_seconds, token=settings.rasa_token), _locks(),
                   max_text_chars=settings.max_text_chars)


class DemoTransport:
    """The demo chat page reads its messages from the database; 'sending' only marks them sent."""

    def send(self, request: OutboundRequest) -> str:
        return f"demo-{uuid.uuid4().hex}"

    def find_sent(self, request: OutboundRequest, since: datetime) -> list[str]:
        return []  # nothing leaves the machine: a demo message is never half-sent


class ChannelTransport:
    """Twilio for WhatsApp and SMS; the demo channel never leaves the machine."""

    def __init__(self, twilio: Transport) -> None:
        self._twilio = twilio
        self._demo = DemoTransport()

    def _for(self, request: OutboundRequest) -> Transport:
        return self._demo if request.channel == "demo" else self._twilio

    def send(self, request: OutboundRequest) -> str:
        return self._for(request).send(request)

    def find_sent(self, request: OutboundRequest, since: datetime) -> list[str]:
        return self._for(request).find_sent(request, since)


@lru_cache(maxsize=1)
def rasa_api() -> RasaDialogue:
    """Rasa's HTTP API for the admin area: the model's reading of a text (NLU inbox), a tracker's events (review)."""
    settings = get_settings()
    return RasaDialogue(live_rasa_url(), settings.rasa_timeout_seconds, token=settings.rasa_token)


@lru_cache(maxsize=1)
def get_transport() -> Transport:
    return ChannelTransport(TwilioTransport(get_settings()))


def reset() -> None:
    """Forget built collaborators (tests change settings between apps)."""
    get_gateway.cache_clear()
    get_transport.cache_clear()
    rasa_api.cache_clear()
    live_rasa_url.cache_clear()
    get_redis.cache_clear()


def get_db() -> Iterator[Session]:
    """One unit of work per request: committed when the route returns, rolled back if it raises."""
    with session_scope() as session:
        yield session


# scope="function": the commit happens before the response leaves, so a client never sees an answer for
# something not yet stored, and a failed commit is a 500 rather than a silent loss.
DbSession = Annotated[Session, Depends(get_db, scope="function")]


# Built once, so nothing here blocks: `async` keeps FastAPI from handing each call to a worker thread (a sync
# dependency costs a thread hand-off a request, and a burst of webhooks pays it 50 times at once).
async def _gateway() -> Gateway:
    return get_gateway()


async def _transport() -> Transport:
    return get_transport()


GatewayDep = Annotated[Gateway, Depends(_gateway)]
TransportDep = Annotated[Transport, Depends(_transport)]
