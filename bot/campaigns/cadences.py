"""Reminder cadences as admins write them (config/campaigns.yml): which step is due for which account when."""
from __future__ import annotations

import enum
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from bot.common.config import ConfigError
from bot.common.settings import PROJECT_ROOT, get_settings

CAMPAIGNS_FILE = PROJECT_ROOT / "config" / "campaigns.yml"


class Anchor(enum.StrEnum):
    DUE_DATE = "due_date"
    INSTALLMENT = "installment"
    PROMISE = "promise"


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    anchor: Anchor
    offset_days: int  # negative: before the anchor date
    message: str  # config/messages.yml: <message>_detailed / <message>_discreet
    marks_broken: bool = False  # the day after a missed installment or promise


class Campaign(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    steps: tuple[Step, ...]

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"campaign {self.name} has no step {name}")


@lru_cache(maxsize=4)
def _load(path: Path, mtime: float) -> dict[str, Campaign]:  # mtime in the key: an admin's edit is read again
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    campaigns = {}
    for name, fields in data.items():
        try:
            campaigns[str(name)] = Campaign(name=str(name), **(fields or {}))
        except (ValidationError, TypeError) as exc:
            raise ConfigError(f"{path}: campaign {name}: {exc}") from exc
    return campaigns


def campaigns(path: Path | None = None) -> dict[str, Campaign]:
    """config/campaigns.yml (in CONFIG_DIR), read again when it changes: admins edit it."""
    path = path or get_settings().config_dir / CAMPAIGNS_FILE.name
    return _load(path, path.stat().st_mtime)


def campaign(name: str) -> Campaign:
    found = campaigns().get(name)
    if found is None:
        raise KeyError(f"no campaign {name!r} in {CAMPAIGNS_FILE.name} (known: {', '.join(sorted(campaigns()))})")
    return found
