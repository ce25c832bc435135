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


VOSEO_SUFFIX = "_vos"  # messages.yml: `name_vos` is `name` in voseo


def _variation(variations: list[dict], voseo: bool) -> str:
    """The variation Rasa would pick: the one conditioned on the `voseo` slot when it is set, else the plain one."""
    for variation in variations:
        conditions = variation.get("condition") or []
        wanted = {(c.get("name"), c.get("value")) for c in conditions}
        if (voseo and wanted == {("voseo", True)}) or (not voseo and not conditions):
            return str(variation["text"])
    return str(next(v for v in variations if not v.get("condition"))["text"])


def render(response: str, **variables: object) -> str:
    """The text of a domain response with its {variables} filled in, as Rasa would say it (`voseo=True`: the
    variation for Argentine debtors)."""
    voseo = bool(variables.pop("voseo", False))
    return _variation(_responses(DOMAIN_FILE)[response], voseo).format(**variables)


def app_message(name: str, **variables: object) -> str:
    """A message the app sends itself (config/messages.yml); `voseo=True` picks its `_vos` wording if it has one."""
    voseo = bool(variables.pop("voseo", False))
    messages = _messages(MESSAGES_FILE)
    text = messages.get(name + VOSEO_SUFFIX, messages[name]) if voseo else messages[name]
    return text.format(**variables)
