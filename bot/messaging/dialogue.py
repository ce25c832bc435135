"""The brain behind the gateway: Rasa's REST channel, reached over HTTP like every other service."""
from __future__ import annotations

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


class RasaDialogue:
    """POSTs to `/webhooks/rest/webhook`; an empty answer counts as a failure.

    Rasa answers 200 with no messages when the action server is down, so "nothing to say" is never
    trusted as a reply: every message the bot handles makes it say something.
    """

    def __init__(self, rasa_url: str, timeout_seconds: float, client: httpx.Client | None = None,
                 token: str = "") -> None:
        self._base = rasa_url.rstrip("/")
        self._url = self._base + "/webhooks/rest/webhook"
        self._token = token
        self._client = client or httpx.Client(timeout=timeout_seconds)

    def reset(self, sender_id: str) -> None:
        """Append a `restart` to the tracker (Rasa's HTTP API, --enable-api): the next message starts a new
        session, with no form, offer or hand-off left over. What matters lives in our database."""
        try:
            response = self._client.post(f"{self._base}/conversations/{quote(sender_id, safe=':+')}/tracker/events",
                                         params={"token": self._token}, json={"event": "restart"})
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise DialogueUnavailable(f"Rasa did not reset {sender_id}: {exc!r}") from exc

    def parse(self, text: str) -> tuple[str, float]:
        """The model's intent and confidence for `text` (Rasa's /model/parse): no dialogue, no tracker."""
        try:
            response = self._client.post(f"{self._base}/model/parse", params={"token": self._token},
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
            response = self._client.get(f"{self._base}/conversations/{quote(sender_id, safe=':+')}/tracker",
                                        params={"token": self._token, "include_events": "AFTER_RESTART"})
            response.raise_for_status()
            events = response.json().get("events") or []
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            raise DialogueUnavailable(f"Rasa did not give the tracker of {sender_id}: {exc!r}") from exc
        return [event for event in events if isinstance(event, dict)]

    def respond(self, sender_id: str, text: str, metadata: dict[str, Any]) -> list[str]:
        try:
            response = self._client.post(self._url, json={"sender": sender_id, "message": text,
                                                          "metadata": metadata})
            response.raise_for_status()
            payload = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise DialogueUnavailable(f"Rasa did not answer: {exc!r}") from exc
        texts = [str(item["text"]) for item in payload if isinstance(item, dict) and item.get("text")]
        if not texts:
            raise DialogueUnavailable("Rasa answered with no messages (is the action server down?)")
        return texts
