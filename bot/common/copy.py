"""Debtor-facing copy: domain.yml responses (what Rasa says) and config/messages.yml (what the app says
itself), read from those files so there are no Spanish sentences in the code."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from bot.common.settings import PROJECT_ROOT

DOMAIN_FILE = PROJECT_ROOT / "domain.yml"
MESSAGES_FILE = PROJECT_ROOT / "config" / "messages.yml"


@lru_cache(maxsize=2)
def _responses(path: Path) -> dict[str, list[dict]]:
    return yaml.safe_load(path.read_text(encoding="utf-8")).get("responses", {})


@lru_cache(maxsize=2)
def _messages(path: Path) -> dict[str, str]:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def render(response: str, **variables: object) -> str:
    """The text of a domain response (its first variation) with its {variables} filled in, as Rasa would."""
    text: str = _responses(DOMAIN_FILE)[response][0]["text"]
    return text.format(**variables)


def app_message(name: str, **variables: object) -> str:
    """A message the app sends itself (config/messages.yml)."""
    return _messages(MESSAGES_FILE)[name].format(**variables)
