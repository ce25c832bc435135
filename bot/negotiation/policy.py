"""The one policy engine: what plans, settlements and promises a role may agree to, for an account.

Every caller (bot actions, agents, reminders) asks here; nothing outside the limits is ever accepted or
offered. Limits are data (config/policy.yml), validated on load, and re-read when the file changes.
"""
from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.common.business_days import next_payment_day
from bot.common.locale import cash_unit
from bot.common.settings import get_settings
from bot.ledger.stages import Stage

Role = Literal["bot", "agent", "supervisor"]
Frequency = Literal["weekly", "biweekly", "monthly"]
_STEP = {"weekly": timedelta(weeks=1), "biweekly": timedelta(weeks=2)}


class PolicyError(ValueError):
    """config/policy.yml is malformed; the message names the bad key."""


class PolicyLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_installments: int = Field(ge=1, le=120)
    min_down_payment_pct: Decimal = Field(ge=0, le=100)
    min_installment_amount: dict[str, Decimal]
    max_days_to_first_payment: int = Field(ge=0, le=365)
    frequencies: tuple[Frequency, ...] = Field(min_length=1)
    max_settlement_discount_pct: Decimal = Field(ge=0, le=100)
    settlement_discount_on: Literal["interest_and_fees", "total"]
    settlement_valid_days: int = Field(ge=1, le=90)
    max_promise_days: int = Field(ge=0, le=365)
    pause_on_hardship: bool
    pause_on_dispute: bool

    def min_installment(self, currency: str) -> Decimal:
        return self.min_installment_amount.get(currency, Decimal(0))


@dataclass(frozen=True)
class AccountTerms:
    """What the engine needs to know about an account."""

    creditor: str
    currency: str
    principal: Decimal
    interest: Decimal
    fees: Decimal
    stage: Stage
    segment: str | None = None
    country: str | None = None  # due dates skip its public holidays (and every Sunday)

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.fees


@dataclass(frozen=True)
class PlanProposal:
    installments: int
    down_payment: Decimal
    first_date: date
    frequency: Frequency = "monthly"


@dataclass(frozen=True)
class ScheduledPayment:
    number: int  # 0 is the down payment
    due: date
    amount: Decimal


@dataclass(frozen=True)
class Plan:
    proposal: PlanProposal
    schedule: tuple[ScheduledPayment, ...]

    @property
    def total(self) -> Decimal:
        return sum((item.amount for item in self.schedule), Decimal(0))

    @property
    def highest_installment(self) -> Decimal:
        """The largest regular payment (the last one absorbs rounding); the down payment is not one."""
        return max((item.amount for item in self.schedule if item.number > 0), default=Decimal(0))

    @property
    def first_due(self) -> date:
        return self.schedule[0].due


class PolicyVerdict(enum.StrEnum):
    ACCEPT = "accept"
    COUNTER = "counter"
    REJECT = "reject"


LimitValue = Decimal | int | date | tuple[str, ...] | None


@dataclass(frozen=True)
class PolicyDecision:
    verdict: PolicyVerdict
    reasons: tuple[str, ...] = ()
    plan: Plan | None = None
    alternatives: tuple[Plan, ...] = field(default_factory=tuple)
    # each broken limit and its value ("too_many_installments" → 6), so the debtor hears which one applies
    limits_broken: tuple[tuple[str, LimitValue], ...] = ()


def _minor(currency: str) -> Decimal:
    """Plans, down payments and settlements are whole cash units: whole pesos for COP and CLP."""
    return cash_unit(currency)


def minimum_down_payment(total: Decimal, currency: str, limits: PolicyLimits) -> Decimal:
    """The percentage of the total, rounded up to the currency's unit: never below the limit."""
    return (total * limits.min_down_payment_pct / 100).quantize(_minor(currency), rounding=ROUND_UP)


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def schedule_for(total: Decimal, currency: str, proposal: PlanProposal, country: str | None = None) -> Plan:
    """Down payment on the first date, then equal installments in cash units; the last absorbs the remainder,
    so the schedule adds up to `total` exactly. A date on a Sunday or a public holiday of `country` moves to
    the next business day."""
    rest = total - proposal.down_payment
    count = proposal.installments
    regular = (rest / count).quantize(_minor(currency), rounding=ROUND_DOWN)
    items: list[ScheduledPayment] = []
    start = proposal.first_date
    if proposal.down_payment > 0:
        items.append(ScheduledPayment(0, next_payment_day(start, country), proposal.down_payment))
        start = _next_due(start, proposal.frequency, 1)
    for number in range(1, count + 1):
        amount = regular if number < count else rest - regular * (count - 1)
        due = next_payment_day(_next_due(start, proposal.frequency, number - 1), country)
        items.append(ScheduledPayment(number, due, amount))
    return Plan(proposal, tuple(items))


def _next_due(start: date, frequency: Frequency, steps: int) -> date:
    if frequency == "monthly":
        return _add_months(start, steps)
    return start + _STEP[frequency] * steps


class PolicyEngine:
    def __init__(self, path: Path | None = None) -> None:
        self._path = path or get_settings().config_dir / "policy.yml"
        self._loaded_mtime: float | None = None
        self._data: dict[str, Any] = {}

    # --- limits ------------------------------------------------------------------------------------
    def check(self) -> None:
        """PolicyError unless the file is a policy this engine applies (the admin area checks edits with it)."""
        self._raw()

    def _raw(self) -> dict[str, Any]:
        mtime = self._path.stat().st_mtime
        if mtime != self._loaded_mtime:  # edited limits apply without a restart
            data = yaml.safe_load(self._path.read_text(encoding="utf-8")) or {}
            self._validate(data)
            self._data, self._loaded_mtime = data, mtime
        return self._data

    def _validate(self, data: dict[str, Any]) -> None:
        if set(data) - {"roles", "creditors"}:
            raise PolicyError(f"{self._path}: unknown top-level keys {sorted(set(data) - {'roles', 'creditors'})}")
        for role in ("bot", "agent", "supervisor"):
            self._check(data.get("roles", {}).get(role), f"roles.{role}", complete=True)
        for code, creditor in (data.get("creditors") or {}).items():
            for role, overrides in (creditor.get("roles") or {}).items():
                self._check(overrides, f"creditors.{code}.roles.{role}", complete=False)
            for group in ("stages", "segments"):
                for name, by_role in (creditor.get(group) or {}).items():
                    if group == "stages" and name not in {stage.value for stage in Stage}:
                        raise PolicyError(f"{self._path}: creditors.{code}.stages.{name}: not a stage")
                    for role, overrides in (by_role or {}).items():
                        self._check(overrides, f"creditors.{code}.{group}.{name}.{role}", complete=False)

    def _check(self, values: Any, where: str, *, complete: bool) -> None:
        if values is None and complete:
            raise PolicyError(f"{self._path}: {where}: missing")
        if not isinstance(values, dict):
            raise PolicyError(f"{self._path}: {where}: expected a mapping")
        unknown = set(values) - set(PolicyLimits.model_fields)
        if unknown:
            raise PolicyError(f"{self._path}: {where}.{sorted(unknown)[0]}: unknown key")
        if complete:
            try:
                PolicyLimits(**values)
            except ValidationError as exc:
                first = exc.errors()[0]
                raise PolicyError(f"{self._path}: {where}.{'.'.join(map(str, first['loc']))}: {first['msg']}") from exc

    def limits(self, account: AccountTerms, role: Role) -> PolicyLimits:
        data = self._raw()
        merged = dict(data["roles"][role])
        creditor = (data.get("creditors") or {}).get(account.creditor) or {}
        for layer in ((creditor.get("roles") or {}).get(role),
                      ((creditor.get("stages") or {}).get(account.stage.value) or {}).get(role),
                      ((creditor.get("segments") or {}).get(account.segment or "") or {}).get(role)):
            merged.update(layer or {})
        try:
            return PolicyLimits(**merged)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise PolicyError(f"{self._path}: {account.creditor}/{account.stage.value}/{role}: "
                              f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from exc

    # --- decisions ---------------------------------------------------------------------------------
    def violations(self, account: AccountTerms, limits: PolicyLimits, proposal: PlanProposal, today: date) -> list[str]:
        reasons = []
        total = account.total
        if proposal.installments < 1:
            reasons.append("installments_below_one")
        if proposal.installments > limits.max_installments:
            reasons.append("too_many_installments")
        if proposal.down_payment < 0 or proposal.down_payment >= total:
            reasons.append("down_payment_out_of_range")
        if proposal.down_payment < minimum_down_payment(total, account.currency, limits):
            reasons.append("down_payment_too_small")
        if proposal.frequency not in limits.frequencies:
            reasons.append("frequency_not_allowed")
        if proposal.first_date < today:
            reasons.append("first_date_in_the_past")
        if proposal.first_date > today + timedelta(days=limits.max_days_to_first_payment):
            reasons.append("first_payment_too_late")
        if not reasons:
            plan = schedule_for(total, account.currency, proposal, account.country)
            if any(item.amount <= 0 or item.amount < limits.min_installment(account.currency)
                   for item in plan.schedule if item.number > 0):
                reasons.append("installment_too_small")
        return reasons

    def evaluate_plan(self, account: AccountTerms, role: Role, proposal: PlanProposal, today: date) -> PolicyDecision:
        limits = self.limits(account, role)
        reasons = self.violations(account, limits, proposal, today)
        if not reasons:
            return PolicyDecision(PolicyVerdict.ACCEPT, plan=self.schedule(account, proposal))
        broken = tuple((reason, self._limit_value(reason, account, limits, today)) for reason in reasons)
        alternatives = self._alternatives(account, limits, proposal, today)
        if alternatives:
            return PolicyDecision(PolicyVerdict.COUNTER, tuple(reasons), alternatives=alternatives,
                                  limits_broken=broken)
        return PolicyDecision(PolicyVerdict.REJECT, tuple(reasons), limits_broken=broken)

    @staticmethod
    def schedule(account: AccountTerms, proposal: PlanProposal) -> Plan:
        return schedule_for(account.total, account.currency, proposal, account.country)

    @staticmethod
    def _limit_value(reason: str, account: AccountTerms, limits: PolicyLimits, today: date) -> LimitValue:
        """The value of the limit a reason names: what the debtor is told ("máximo 6 cuotas")."""
        values: dict[str, LimitValue] = {
            "too_many_installments": limits.max_installments,
            "down_payment_too_small": minimum_down_payment(account.total, account.currency, limits),
            "down_payment_out_of_range": account.total,
            "frequency_not_allowed": limits.frequencies,
            "first_payment_too_late": today + timedelta(days=limits.max_days_to_first_payment),
            "first_date_in_the_past": today,
            "installment_too_small": limits.min_installment(account.currency),
        }
        return values.get(reason)

    def concession(self, account: AccountTerms, role: Role, previous: PlanProposal, today: date) -> Plan | None:
        """After a "no": the next plan toward the debtor inside the limits, or None (then a person helps).

        Never a higher installment nor an earlier first payment than `previous`: first one more installment
        (lower payments, same start), then, at the most installments allowed, a later first payment."""
        limits = self.limits(account, role)
        before = self.schedule(account, previous)
        options = [replace(previous, installments=count)
                   for count in range(max(previous.installments, 0) + 1, limits.max_installments + 1)]
        latest = today + timedelta(days=limits.max_days_to_first_payment)
        if previous.first_date < latest:
            options.append(replace(previous, first_date=min(latest, previous.first_date + timedelta(days=15))))
        for option in options:
            if self.violations(account, limits, option, today):
                continue
            plan = self.schedule(account, option)
            if plan.highest_installment <= before.highest_installment and plan.first_due >= before.first_due:
                return plan
        return None

    def _alternatives(self, account: AccountTerms, limits: PolicyLimits, proposal: PlanProposal,
                      today: date) -> tuple[Plan, ...]:
        """Up to two plans inside the limits, as close as possible to what was asked."""
        total, minor = account.total, _minor(account.currency)
        down = max(proposal.down_payment, minimum_down_payment(total, account.currency, limits))
        down = min(max(down, Decimal(0)), total - minor)
        first = min(max(proposal.first_date, today), today + timedelta(days=limits.max_days_to_first_payment))
        frequency = proposal.frequency if proposal.frequency in limits.frequencies else limits.frequencies[-1]
        wanted = max(1, proposal.installments)
        candidates: list[Plan] = []
        for count in sorted(range(1, limits.max_installments + 1), key=lambda n: (abs(n - wanted), -n)):
            option = PlanProposal(count, down, first, frequency)
            if not self.violations(account, limits, option, today):
                candidates.append(self.schedule(account, option))
            if len(candidates) == 2:
                break
        return tuple(candidates)

    def lowest_installment_plan(self, account: AccountTerms, role: Role, today: date) -> Plan | None:
        """The plan with the smallest regular payment these limits allow ("¿cuál es la cuota más baja?"): the
        most installments, the minimum down payment, monthly when allowed, starting today. None if none fits."""
        limits = self.limits(account, role)
        down = minimum_down_payment(account.total, account.currency, limits)
        frequency: Frequency = "monthly" if "monthly" in limits.frequencies else limits.frequencies[0]
        for count in range(limits.max_installments, 0, -1):
            option = PlanProposal(count, down, today, frequency)
            if not self.violations(account, limits, option, today):
                return self.schedule(account, option)
        return None

    def settlement(self, account: AccountTerms, role: Role, today: date) -> tuple[Decimal, date]:
        """The lowest amount that settles the account in one payment, and until when it is offered."""
        limits = self.limits(account, role)
        base = account.interest + account.fees if limits.settlement_discount_on == "interest_and_fees" \
            else account.total
        discount = (base * limits.max_settlement_discount_pct / 100).quantize(_minor(account.currency),
                                                                             rounding=ROUND_DOWN)
        return account.total - discount, today + timedelta(days=limits.settlement_valid_days)

    def discount_unavailable_reason(self, account: AccountTerms, role: Role) -> str | None:
        """'in_policy' (no discount at this stage), 'nothing_to_discount' (only principal, and discounts apply to
        interest and fees), or None when a one-payment settlement is cheaper than the total."""
        limits = self.limits(account, role)
        if limits.max_settlement_discount_pct == 0:
            return "in_policy"
        if limits.settlement_discount_on == "interest_and_fees" and account.interest + account.fees <= 0:
            return "nothing_to_discount"
        return None

    def settlement_violations(self, account: AccountTerms, role: Role, amount: Decimal, today: date) -> list[str]:
        """Why a one-payment settlement of `amount` is not allowed for this role (empty: it is)."""
        lowest, _ = self.settlement(account, role, today)
        if amount <= 0 or amount > account.total:
            return ["amount_out_of_range"]
        if amount != amount.quantize(_minor(account.currency)):
            return ["amount_not_in_currency_units"]
        if amount < lowest:
            return ["discount_too_large"]
        return []

    def promise_allowed(self, account: AccountTerms, role: Role, promised: date, today: date) -> str | None:
        """None if a promise to pay on `promised` is acceptable, else the reason."""
        if promised < today:
            return "date_in_the_past"
        if promised > today + timedelta(days=self.limits(account, role).max_promise_days):
            return "date_too_far"
        return None
