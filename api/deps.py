"""Process-wide collaborators, built once from the settings (tests override them per app)."""
from __future__ import annotations

from functools import lru_cache

from bot.dialogue import RasaDialogue
from bot.gateway import Gateway
from bot.locks import InProcessLocks
from bot.outbox import Transport
from bot.settings import get_settings


@lru_cache(maxsize=1)
def get_gateway() -> Gateway:
    settings = get_settings()
    return Gateway(RasaDialogue(settings.rasa_url, settings.rasa_timeout_seconds), InProcessLocks(),
                   max_text_chars=settings.max_text_chars)


@lru_cache(maxsize=1)
def get_transport() -> Transport:
    from api.twilio import TwilioTransport

    return TwilioTransport(get_settings())


def reset() -> None:
    """Forget built collaborators (tests change settings between apps)."""
    get_gateway.cache_clear()
    get_transport.cache_clear()
