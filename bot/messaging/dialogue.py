"""The brain behind the gateway: Rasa's REST channel, reached over HTTP like every other service."""
from __future__ import annotations

from typing import Any, Protocol

import httpx


class DialogueUnavailable(RuntimeError):
    """Rasa (or its action server) did not answer usefully: down, slow, or an empty reply."""


class Dialogue(Protocol):
    def respond(self, sender_id: str, text: str, metadata: dict[str, Any]) -> list[str]: ...


class RasaDialogue:
    """POSTs to `/webhooks/rest/webhook`; an empty answer counts as a failure.

    Rasa answers 200 with no messages when the action server is down, so "nothing to say" is never
    trusted as a reply: every message the bot handles makes it say something.
    """

    def __init__(self, rasa_url: str, timeout_seconds: float, client: httpx.Client | None = None) -> None:
        self._url = rasa_url.rstrip("/") + "/webhooks/rest/webhook"
        self._client = client or httpx.Client(timeout=timeout_seconds)

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
