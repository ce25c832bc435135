"""When an automated message may reach a debtor: the one decision every reminder and campaign message passes.

The law's rules are data (config/countries.yml: contact hours and days, public holidays, caps per day and week,
days apart, one channel a week, authorised channels, each with its legal source); a creditor may tighten them
(config/creditors.yml `contact_rules`), never loosen them. Everything is read in the debtor's own time zone.
The answer is "send now", "send at <the next allowed moment>" or "never, because…", with a sentence naming
the rule and its source, stored with the message so an auditor sees why it went when it did.

This module is pure (no database): bot.messaging.compliance gathers a debtor's history and blocks for it.
Replies inside a conversation the debtor started do not ask here (they are exempt from hours and caps).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.common import config
from bot.common.business_days import is_public_holiday
from bot.common.locale import zone_for

_SEARCH_DAYS = 21  # any country with contact hours has an allowed moment within three weeks of the caps
_WEEK = timedelta(days=7)
CONSERVATIVE_SOURCE = "regla conservadora de Acuerdo"


class ContactVerdict(enum.StrEnum):
    SEND = "send"
    DEFER = "defer"
    NEVER = "never"


@dataclass(frozen=True)
class ContactDecision:
    """`code` is for machines (counting blocked accounts by cause); `reason` is for people and auditors."""

    decision: ContactVerdict
    next_allowed: datetime | None
    reason: str
    code: str = ""
    template_only: bool = False  # WhatsApp outside the 24-hour window: only an approved template may go

    @property
    def free_text(self) -> bool:
        """Whether a free-text message may leave now (not only a template, not later, not never)."""
        return self.decision is ContactVerdict.SEND and not self.template_only

    def as_json(self) -> dict[str, str | None]:
        """The `acuerdo contact-check` contract: decision, next_allowed (ISO 8601 with offset) and reason."""
        return {"decision": self.decision.value,
                "next_allowed": self.next_allowed.isoformat() if self.next_allowed else None,
                "reason": self.reason}

    def as_record(self) -> dict[str, str | None]:
        """What is stored with a message: the contract plus the machine code."""
        return {**self.as_json(), "code": self.code}


@dataclass(frozen=True)
class PastContact:
    """An automated contact already made (or on its way) to the debtor."""

    at: datetime
    channel: str


@dataclass(frozen=True)
class Block:
    """Something that stops every automated message to a debtor or account: an opt-out, a dispute…"""

    code: str
    reason: str


@dataclass(frozen=True)
class DebtorContactFacts:
    history: tuple[PastContact, ...] = ()
    blocks: tuple[Block, ...] = ()
    authorised_channels: frozenset[str] | None = None  # None: the portfolio did not say
    timezone: str | None = None  # the portfolio's; else the country's


@dataclass(frozen=True)
class ContactRules:
    """The rules in force for one country and creditor: the law's, tightened by the creditor's own."""

    country: config.CountryConfig
    hours: dict[int, tuple[time, time]]  # weekday (Monday 0) → local open, close
    max_per_day: int | None
    max_per_week: int | None
    min_days_apart: int
    one_channel_per_week: bool
    requires_authorised_channel: bool
    creditor_name: str | None = None
    tightened: frozenset[str] = field(default_factory=frozenset)  # which limits the creditor made stricter

    def source(self, limit: str) -> str:
        """The legal source of `limit`, or the creditor's name when its own rule is the stricter one."""
        if limit in self.tightened and self.creditor_name:
            return f"regla propia de {self.creditor_name}"
        return self.country.contact_rules_source or CONSERVATIVE_SOURCE


def _stricter(law: int | None, own: int | None) -> int | None:
    return own if law is None else law if own is None else min(law, own)


def _narrower_hours(law: dict[int, tuple[time, time]],
                    own: dict[int, tuple[time, time]]) -> dict[int, tuple[time, time]]:
    """Each day's window is the overlap of both; a day the creditor does not list has none."""
    narrowed = {}
    for day, (opens, closes) in law.items():
        if day in own:
            start, end = max(opens, own[day][0]), min(closes, own[day][1])
            if start < end:
                narrowed[day] = (start, end)
    return narrowed


def rules_for(country_code: str, creditor: config.CreditorConfig | None = None) -> ContactRules:
    country = config.country(country_code)
    law_hours = config.weekly_hours(country.contact_hours)
    rules = ContactRules(country=country, hours=law_hours, max_per_day=country.contact_max_per_day,
                         max_per_week=country.contact_max_per_week, min_days_apart=country.contact_min_days_apart,
                         one_channel_per_week=country.contact_one_channel_per_week,
                         requires_authorised_channel=country.contact_requires_authorised_channel)
    if creditor is None:
        return rules
    own = creditor.contact_rules
    hours = _narrower_hours(law_hours, config.weekly_hours(own.contact_hours)) if own.contact_hours else law_hours
    per_day, per_week = _stricter(rules.max_per_day, own.max_per_day), _stricter(rules.max_per_week, own.max_per_week)
    apart = max(rules.min_days_apart, own.min_days_apart)
    changes = [("hours", hours != law_hours), ("max_per_day", per_day != rules.max_per_day),
               ("max_per_week", per_week != rules.max_per_week), ("min_days_apart", apart != rules.min_days_apart)]
    tightened = {name for name, changed in changes if changed}
    return ContactRules(country=country, hours=hours, max_per_day=per_day, max_per_week=per_week,
                        min_days_apart=apart, one_channel_per_week=rules.one_channel_per_week,
                        requires_authorised_channel=rules.requires_authorised_channel, creditor_name=creditor.name,
                        tightened=frozenset(tightened))


def _span_of(rules: ContactRules, day: date, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
    """The contact window of a local day, or None on a day without one (Sunday, a holiday where it counts)."""
    span = rules.hours.get(day.weekday())
    if span is None or (not rules.country.contact_on_holidays and is_public_holiday(day, rules.country.code)):
        return None
    return datetime.combine(day, span[0], zone), datetime.combine(day, span[1], zone)


def _first_allowed(rules: ContactRules, earliest: datetime) -> datetime | None:
    zone = earliest.tzinfo
    assert isinstance(zone, ZoneInfo)
    for offset in range(_SEARCH_DAYS + 1):
        span = _span_of(rules, earliest.date() + timedelta(days=offset), zone)
        if span is not None and earliest < span[1]:
            return max(earliest, span[0])
    return None


@dataclass(frozen=True)
class _Wait:
    until: datetime
    code: str
    reason: str


def _cap_waits(rules: ContactRules, channel: str, local: datetime,
               history: tuple[PastContact, ...]) -> list[_Wait]:
    """Each cap already reached, with the moment it lifts."""
    zone = local.tzinfo
    past = sorted(contact.at.astimezone(zone) for contact in history if contact.at <= local)
    week = [at for at in past if at > local - _WEEK]
    waits = []
    midnight = time(0, 0)
    if rules.max_per_day is not None and sum(at.date() == local.date() for at in past) >= rules.max_per_day:
        waits.append(_Wait(datetime.combine(local.date() + timedelta(days=1), midnight, zone), "daily_cap",
                           f"Ya alcanzó el máximo de {rules.max_per_day} contacto(s) por día "
                           f"({rules.source('max_per_day')})."))
    if rules.max_per_week is not None and len(week) >= rules.max_per_week:
        waits.append(_Wait(_next_minute(week[len(week) - rules.max_per_week] + _WEEK), "weekly_cap",
                           f"Ya alcanzó el máximo de {rules.max_per_week} contacto(s) en siete días "
                           f"({rules.source('max_per_week')})."))
    if rules.min_days_apart and past and (local.date() - past[-1].date()).days < rules.min_days_apart:
        waits.append(_Wait(datetime.combine(past[-1].date() + timedelta(days=rules.min_days_apart), midnight, zone),
                           "days_apart", f"Entre dos contactos deben pasar al menos {rules.min_days_apart} días "
                                         f"({rules.source('min_days_apart')})."))
    if rules.one_channel_per_week:
        others = [contact.at.astimezone(zone) for contact in history
                  if contact.channel != channel and local - _WEEK < contact.at <= local]
        if others:
            waits.append(_Wait(_next_minute(max(others) + _WEEK), "other_channel_this_week",
                               f"Esta semana ya se le contactó por otro canal: no por varios canales la misma "
                               f"semana ({rules.source('one_channel_per_week')})."))
    return waits


def _next_minute(moment: datetime) -> datetime:
    """`moment` rounded up to a whole minute: the answer names a time a person can read."""
    whole = moment.replace(second=0, microsecond=0)
    return whole if whole == moment else whole + timedelta(minutes=1)


def _channel_block(rules: ContactRules, channel: str, facts: DebtorContactFacts) -> Block | None:
    source = rules.source("channels")
    if facts.authorised_channels is not None and channel not in facts.authorised_channels:
        return Block("channel_not_authorised", f"El deudor no autorizó el canal {channel} ({source}).")
    if facts.authorised_channels is None and rules.requires_authorised_channel:
        return Block("channel_not_authorised", f"No consta qué canales autorizó el deudor y "
                                               f"{rules.country.name} lo exige ({source}).")
    return None


def decide(rules: ContactRules, channel: str, at: datetime,
           facts: DebtorContactFacts | None = None) -> ContactDecision:
    """May an automated message go to this debtor through `channel` at `at`, and if not now, when?"""
    facts = facts or DebtorContactFacts()
    block = facts.blocks[0] if facts.blocks else _channel_block(rules, channel, facts)
    if block is not None:
        return ContactDecision(ContactVerdict.NEVER, None, block.reason, block.code)
    source = rules.source("hours")
    if not rules.hours:
        return ContactDecision(ContactVerdict.NEVER, None,
                               f"{rules.country.name}: no hay horario de contacto configurado ({source}).", "no_hours")
    local = at.astimezone(zone_for(rules.country.code, facts.timezone))
    waits = _cap_waits(rules, channel, local, facts.history)
    binding = max(waits, key=lambda wait: wait.until) if waits else None
    moment = _first_allowed(rules, max(local, binding.until) if binding else local)
    if moment is None:
        return ContactDecision(ContactVerdict.NEVER, None,
                               f"{rules.country.name}: sin horario de contacto permitido ({source}).", "no_hours")
    if moment == local:
        return ContactDecision(ContactVerdict.SEND, None,
                               f"Dentro del horario de contacto de {rules.country.name} ({source}).", "allowed")
    if binding is not None:
        return ContactDecision(ContactVerdict.DEFER, moment, binding.reason, binding.code)
    code, why = _why_not_now(rules, local)
    return ContactDecision(ContactVerdict.DEFER, moment, f"{why} ({source}).", code)


def _why_not_now(rules: ContactRules, local: datetime) -> tuple[str, str]:
    # Whose hours these are: the creditor's, when its own are the stricter ones.
    holder = rules.creditor_name if "hours" in rules.tightened and rules.creditor_name else rules.country.name
    zone = local.tzinfo
    assert isinstance(zone, ZoneInfo)
    if _span_of(rules, local.date(), zone) is not None:
        return "outside_hours", f"Fuera del horario de contacto de {holder}"
    if not rules.country.contact_on_holidays and is_public_holiday(local.date(), rules.country.code):
        return "holiday", f"Día festivo en {rules.country.name}: no se contacta"
    return "closed_day", f"{holder} no permite contactar este día de la semana"


def contact_decision(country_code: str, at: datetime, timezone: str | None = None,
                     creditor: config.CreditorConfig | None = None, channel: str = "sms") -> ContactDecision:
    """The law's (and the creditor's) hours and days alone: a debtor with no history who authorised `channel`."""
    facts = DebtorContactFacts(authorised_channels=frozenset({channel}), timezone=timezone)
    return decide(rules_for(country_code, creditor), channel, at, facts)
