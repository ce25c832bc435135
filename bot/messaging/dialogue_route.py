"""Which Rasa server debtors talk to: one database row (blue/green), read by every app process at most a second
late, so activating a model switches all of them without a restart and without reloading the live server."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from bot.common.settings import Settings
from bot.ledger.db import session_scope
from bot.ledger.models import DialogueRoute
from bot.messaging.dialogue import normalized, role_of

ROUTE_ID = 1
ROUTE_TTL_SECONDS = 1.0  # how late an app process may learn of a switch


def rasa_roles(settings: Settings) -> list[str]:
    """The configured Rasa roles, blue and green (RASA_URL, RASA_STANDBY_URL), each one server or several
    replicas: the route row names one of them."""
    return [normalized(url) for url in (settings.rasa_url, settings.rasa_standby_url) if url]


def current_route(session: Session) -> DialogueRoute | None:
    return session.get(DialogueRoute, ROUTE_ID)


class LiveRasaUrl:
    """The live server's URL, cached for `ttl_seconds`; the configured RASA_URL until a model is first activated.

    If the database cannot be read the last known URL is kept: a hiccup there must not stop conversations."""

    def __init__(self, default_url: str, ttl_seconds: float = ROUTE_TTL_SECONDS,
                 read: Callable[[], str | None] | None = None, roles: list[str] | None = None) -> None:
        self._default = normalized(default_url)
        self._roles = roles or [default_url]  # RASA_URL and RASA_STANDBY_URL: a route row names one of them
        self._ttl = ttl_seconds
        self._read = read or _read_live_url
        self._lock = threading.Lock()
        self._url = self._default
        self._checked = float("-inf")

    def __call__(self) -> str:
        with self._lock:
            if time.monotonic() - self._checked >= self._ttl:
                try:
                    self._url = role_of(self._read() or self._default, self._roles)
                except Exception:  # noqa: BLE001 - keep talking to the server we know
                    pass
                self._checked = time.monotonic()
            return self._url


def _read_live_url() -> str | None:
    with session_scope() as session:
        route = current_route(session)
        return route.live_url if route else None
