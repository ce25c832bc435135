"""Debtor-facing copy, read from domain.yml responses so Rasa and the app speak with one voice."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from bot.settings import PROJECT_ROOT

DOMAIN_FILE = PROJECT_ROOT / "domain.yml"


@lru_cache(maxsize=2)
def _responses(path: Path) -> dict[str, list[dict]]:
    return yaml.safe_load(path.read_text(encoding="utf-8")).get("responses", {})


def render(response: str, variant: int = 0, **variables: str) -> str:
    """The text of a domain response with its {variables} filled in, as Rasa would fill them."""
    text: str = _responses(DOMAIN_FILE)[response][variant]["text"]
    return text.format(**variables)
