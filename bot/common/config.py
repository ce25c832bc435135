"""Typed access to config/countries.yml and config/creditors.yml."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from bot.common.settings import get_settings


class ConfigError(ValueError):
    """A configuration file is missing or malformed; the message names the file and key."""


class CountryConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str
    name: str
    locale: str
    currency: str
    timezone: str
    payment_methods: list[str] = []
    checkout_methods: list[str] = ["card"]  # Stripe payment_method_types offered in a checkout
    business_hours: dict[str, tuple[time, time]] = {}  # {"mon-fri": (09:00, 18:00)}: when agents answer
    voseo: bool = False  # debtors are answered with "vos" (domain.yml variations, messages.yml *_vos)
    identity_document: str = "documento de identidad"  # what "los últimos 4 dígitos de tu …" names
    contact_hours: dict[str, tuple[time, time]] = {}  # when automated messages may reach a debtor (local time)
    contact_on_holidays: bool = True  # False: never on the country's public holidays
    contact_rules_source: str = ""  # the law or rule the contact hours come from
    contact_max_per_day: int | None = None  # automated contacts a debtor may get per local day
    contact_max_per_week: int | None = None  # … in any seven days
    contact_min_days_apart: int = 0  # local days between two automated contacts (Chile: 2)
    contact_one_channel_per_week: bool = False  # Colombia: not through several channels in the same week
    contact_requires_authorised_channel: bool = False  # Colombia: only channels the debtor authorised

    def next_business_opening(self, now: datetime) -> datetime | None:
        """None while agents are at work; else when they next are (in the country's time zone)."""
        hours = weekly_hours(self.business_hours)
        if not hours:
            return None
        local = now.astimezone(ZoneInfo(self.timezone))
        for offset in range(8):
            day = local.date() + timedelta(days=offset)
            span = hours.get(day.weekday())
            if span is None:
                continue
            opens = datetime.combine(day, span[0], local.tzinfo)
            closes = datetime.combine(day, span[1], local.tzinfo)
            if offset == 0 and opens <= local < closes:
                return None
            if local < opens:
                return opens
        return None


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def weekly_hours(spec: dict[str, tuple[time, time]]) -> dict[int, tuple[time, time]]:
    """{"mon-fri": …, "sat": …} → {0: …, …, 5: …} (Monday is 0)."""
    return {day: span for days, span in spec.items() for day in _weekday_range(days)}


def weekday_index(day: str) -> int:
    """"mon" → 0 … "sun" → 6 (Babel's day-name index too)."""
    return _WEEKDAYS.index(day)


def _weekday_range(days: str) -> list[int]:
    first, _, last = days.partition("-")
    start, end = weekday_index(first), weekday_index(last or first)
    return list(range(start, end + 1))


class WhatsAppTemplate(BaseModel):
    content_sid: str
    variables: list[str] = []


class CreditorContactRules(BaseModel):
    """A creditor's own contact rules: they can only tighten the law's (bot.messaging.contact_rules)."""

    model_config = ConfigDict(extra="forbid")

    contact_hours: dict[str, tuple[time, time]] = {}  # local hours, as in countries.yml; empty: the law's
    max_per_day: int | None = None
    max_per_week: int | None = None
    min_days_apart: int = 0


class CreditorConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str
    name: str
    link_domain: str | None = None
    whatsapp_sender: str | None = None
    sms_sender: str | None = None
    templates: dict[str, WhatsAppTemplate] = {}
    contact_rules: CreditorContactRules = CreditorContactRules()


def _load_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _parse_entries(path: Path, model: type[BaseModel]) -> dict:
    parsed = {}
    for code, fields in _load_yaml(path).items():
        try:
            parsed[str(code)] = model(code=str(code), **(fields or {}))
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(part) for part in first["loc"])
            raise ConfigError(f"{path}: {code}.{key}: {first['msg']}") from exc
    return parsed


@lru_cache(maxsize=4)
def _countries(config_dir: Path) -> dict[str, CountryConfig]:
    return _parse_entries(config_dir / "countries.yml", CountryConfig)


@lru_cache(maxsize=4)
def _creditors(config_dir: Path) -> dict[str, CreditorConfig]:
    return _parse_entries(config_dir / "creditors.yml", CreditorConfig)


def countries() -> dict[str, CountryConfig]:
    return _countries(get_settings().config_dir)


def creditors() -> dict[str, CreditorConfig]:
    return _creditors(get_settings().config_dir)


def country(code: str) -> CountryConfig:
    """The configured country for an ISO 3166 alpha-2 code (any case)."""
    try:
        return countries()[code.upper()]
    except KeyError as exc:
        raise ConfigError(f"country {code!r} is not configured in countries.yml") from exc


class CannedReplyConfig(BaseModel):
    title: str
    text: str


def canned_replies() -> dict[str, CannedReplyConfig]:
    """config/canned_replies.yml, read again when it changes (admins edit it)."""
    path = get_settings().config_dir / "canned_replies.yml"
    return _canned_replies(path, path.stat().st_mtime if path.exists() else 0.0)


@lru_cache(maxsize=4)
def _canned_replies(path: Path, mtime: float) -> dict[str, CannedReplyConfig]:
    return parse_canned_replies(path) if mtime else {}


def parse_canned_replies(path: Path) -> dict[str, CannedReplyConfig]:
    """A canned_replies.yml read and checked (ConfigError names what is wrong)."""
    return _parse_entries(path, CannedReplyConfig)


def handoff_keywords() -> tuple[str, ...]:
    """config/handoff.yml's keywords (as written; compare them with bot.messaging's keyword normalisation)."""
    path = get_settings().config_dir / "handoff.yml"
    return _handoff_keywords(path, path.stat().st_mtime if path.exists() else 0.0)


@lru_cache(maxsize=4)
def _handoff_keywords(path: Path, mtime: float) -> tuple[str, ...]:  # mtime in the key: an edit is read again
    return parse_handoff_keywords(path) if mtime else ()


def parse_handoff_keywords(path: Path) -> tuple[str, ...]:
    """A handoff.yml read and checked (ConfigError names what is wrong): what the admin area checks an edit with."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    keywords = data.get("keywords") or []
    if not isinstance(keywords, list) or not all(isinstance(word, str) and word.strip() for word in keywords):
        raise ConfigError(f"{path}: keywords: expected a list of words")
    return tuple(keywords)
