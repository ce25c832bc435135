"""The brain behind the gateway: Rasa's REST channel, reached over HTTP like every other service."""
from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote

import httpx


class DialogueUnavailable(RuntimeError):
    """Rasa (or its action server) did not answer usefully: down, slow, or an empty reply."""


class Dialogue(Protocol):
    def respond(self, sender_id: str, text: str, metadata: dict[str, Any]) -> list[str]: ...

    def reset(self, sender_id: str) -> None:
        """Forget the dialogue's state for this sender (after a person handled the conversation)."""
        ...


def replicas(urls: str) -> list[str]:
    """The base URLs of one Rasa server role: one URL, or several replicas separated by commas. Replicas share the
    tracker and lock stores (Redis), so any of them may answer any debtor; a role with two replicas uses two cores
    where one Rasa process uses one (README, "Performance")."""
    return [url.strip().rstrip("/") for url in urls.split(",") if url.strip()]


def normalized(urls: str) -> str:
    """A role's URLs as the route row and the settings are compared: no trailing slash, no spaces."""
    return ",".join(replicas(urls))


def role_of(urls: str, roles: list[str]) -> str:
    """The configured role (RASA_URL, RASA_STANDBY_URL) that `urls` belongs to: a route row written before a role
    got its replicas, or with them in another order, still names the whole role. `urls` itself if none does."""
    mine = set(replicas(urls))
    return next((normalized(role) for role in roles if mine & set(replicas(role))), normalized(urls))


def replica_for(urls: list[str], sender_id: str) -> str:
    """The replica a debtor's messages go to: always the same one (its turns never race between two servers'
    locks), spread evenly over the replicas."""
    return urls[zlib.crc32(sender_id.encode()) % len(urls)] if len(urls) > 1 else urls[0]


def _fixed(url: str) -> Callable[[], str]:
    base = normalized(url)
    return lambda: base


class RasaDialogue:
    """POSTs to `/webhooks/rest/webhook`; an empty answer counts as a failure.

    `rasa_url` may be a function (bot.messaging.dialogue_route.LiveRasaUrl): each request goes to the server that
    is live at that moment, so a model switch needs no restart. A role of several replicas (`replicas`) gets each
    debtor's requests on one of them (`replica_for`).

    Rasa answers 200 with no messages when the action server is down, so "nothing to say" is never
    trusted as a reply: every message the bot handles makes it say something.
    """

    def __init__(self, rasa_url: str | Callable[[], str], timeout_seconds: float, client: httpx.Client | None = None,
                 token: str = "") -> None:
        self._role = _fixed(rasa_url) if isinstance(rasa_url, str) else rasa_url
        self._token = token
        self._client = client or httpx.Client(timeout=timeout_seconds)
        self._split: tuple[str, list[str]] = ("", [])  # the role's URLs, split once per change of the route
        self._turn = itertools.count()

    def _replicas(self) -> list[str]:
        role, split = self._role(), self._split  # read once: another thread may replace it meanwhile
        if split[0] != role:
            split = self._split = (role, replicas(role))
        return split[1]

    def _base_url(self, sender_id: str | None = None) -> str:
        """The replica for this debtor; for a request of no debtor's (a parse), the next one in turn."""
        urls = self._replicas()
        return replica_for(urls, sender_id) if sender_id is not None else urls[next(self._turn) % len(urls)]

    def reset(self, sender_id: str) -> None:
        """Append a `restart` to the tracker (Rasa's HTTP API, --enable-api): the next message starts a new
        session, with no form, offer or hand-off left over. What matters lives in our database."""
        try:
            url = f"{self._base_url(sender_id)}/conversations/{quote(sender_id, safe=':+')}/tracker/events"
            response = self._client.post(url, params={"token": self._token}, json={"event": "restart"})
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise DialogueUnavailable(f"Rasa did not reset {sender_id}: {exc!r}") from exc

    def parse(self, text: str) -> tuple[str, float]:
        """The model's intent and confidence for `text` (Rasa's /model/parse): no dialogue, no tracker."""
        try:
            response = self._client.post(f"{self._base_url()}/model/parse", params={"token": self._token},
                                         json={"text": text})
            response.raise_for_status()
            intent = response.json().get("intent") or {}
        except (httpx.HTTPError, ValueError) as exc:
            raise DialogueUnavailable(f"Rasa did not parse: {exc!r}") from exc
        return str(intent.get("name") or "nlu_fallback"), float(intent.get("confidence") or 0.0)

    def events(self, sender_id: str) -> list[dict[str, Any]]:
        """The tracker's events since its last restart (Rasa's HTTP API): what conversation review turns into a
        test story."""
        try:
            url = f"{self._base_url(sender_id)}/conversations/{quote(sender_id, safe=':+')}/tracker"
            response = self._client.get(url, params={"token": self._token, "include_events": "AFTER_RESTART"})
            response.raise_for_status()
            events = response.json().get("events") or []
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            raise DialogueUnavailable(f"Rasa did not give the tracker of {sender_id}: {exc!r}") from exc
        return [event for event in events if isinstance(event, dict)]

    def respond(self, sender_id: str, text: str, metadata: dict[str, Any]) -> list[str]:
        try:
            response = self._client.post(f"{self._base_url(sender_id)}/webhooks/rest/webhook",
                                         json={"sender": sender_id, "message": text, "metadata": metadata})
            response.raise_for_status()
            payload = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise DialogueUnavailable(f"Rasa did not answer: {exc!r}") from exc
        texts = [str(item["text"]) for item in payload
                 if isinstance(item, dict) and item.get("text") and str(item["text"]).strip()]
        if not texts:
            raise DialogueUnavailable("Rasa answered with no messages (is the action server down?)")
        return texts
