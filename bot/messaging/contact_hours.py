"""When an automated message may reach a debtor: each country's contact hours, days and public holidays.

The rules are data (config/countries.yml: `contact_hours`, `contact_on_holidays`, `contact_rules_source`), read in
the debtor's own time zone. The answer is "send now", "send at <the next allowed moment>", or "never, because…",
and names the rule and its legal source, so the reason can be stored with the message.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.common import config
from bot.common.business_days import is_public_holiday

_SEARCH_DAYS = 14  # a country with any contact hours at all has an allowed moment within two weeks


class ContactVerdict(enum.StrEnum):
    SEND = "send"
    DEFER = "defer"
    NEVER = "never"


@dataclass(frozen=True)
class ContactDecision:
    decision: ContactVerdict
    next_allowed: datetime | None
    reason: str

    def as_json(self) -> dict[str, str | None]:
        return {"decision": self.decision.value,
                "next_allowed": self.next_allowed.isoformat() if self.next_allowed else None,
                "reason": self.reason}


def _allowed_span(country: config.CountryConfig, local: datetime) -> tuple[datetime, datetime] | None:
    """The contact window of `local`'s day, or None on a day without one (Sunday, a holiday where it counts)."""
    span = config.weekly_hours(country.contact_hours).get(local.weekday())
    if span is None or (not country.contact_on_holidays and is_public_holiday(local.date(), country.code)):
        return None
    day = local.date()
    return datetime.combine(day, span[0], local.tzinfo), datetime.combine(day, span[1], local.tzinfo)


def contact_decision(country_code: str, at: datetime, timezone: str | None = None) -> ContactDecision:
    """May an automated message reach a debtor of `country_code` at `at` (their zone: `timezone`, else the
    country's)? Replies inside a conversation the debtor started do not ask here."""
    country = config.country(country_code)
    source = country.contact_rules_source or "regla conservadora de Acuerdo"
    if not country.contact_hours:
        return ContactDecision(ContactVerdict.NEVER, None,
                               f"{country.name}: no hay horario de contacto configurado ({source}).")
    local = at.astimezone(ZoneInfo(timezone or country.timezone))
    today = _allowed_span(country, local)
    if today is not None and today[0] <= local < today[1]:
        return ContactDecision(ContactVerdict.SEND, None,
                               f"Dentro del horario de contacto de {country.name} ({source}).")
    for offset in range(_SEARCH_DAYS + 1):
        day = local + timedelta(days=offset)
        span = _allowed_span(country, day)
        if span is not None and local < span[0]:
            why = _why_not_now(country, local, today)
            return ContactDecision(ContactVerdict.DEFER, span[0], f"{why} ({source}).")
    return ContactDecision(ContactVerdict.NEVER, None, f"{country.name}: sin horario de contacto permitido ({source}).")


def _why_not_now(country: config.CountryConfig, local: datetime, today: tuple[datetime, datetime] | None) -> str:
    if today is not None:
        return f"Fuera del horario de contacto de {country.name}"
    if not country.contact_on_holidays and is_public_holiday(local.date(), country.code):
        return f"Día festivo en {country.name}: no se contacta"
    return f"{country.name} no permite contactar este día de la semana"
