"""The policy engine: property-based (nothing outside the limits is ever accepted or offered; schedules
add up to the cent) and a few exact cases."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.common.settings import PROJECT_ROOT
from bot.ledger.stages import Stage
from bot.negotiation.policy import (
    AccountTerms,
    PlanProposal,
    PolicyEngine,
    PolicyError,
    PolicyLimits,
    PolicyVerdict,
    minimum_down_payment,
    schedule_for,
)

TODAY = date(2026, 11, 26)
ENGINE = PolicyEngine(PROJECT_ROOT / "config" / "policy.yml")
CURRENCIES = {"MXN": 2, "COP": 2, "ARS": 2, "CLP": 0, "PEN": 2}


@st.composite
def accounts(draw: st.DrawFn) -> AccountTerms:
    currency = draw(st.sampled_from(sorted(CURRENCIES)))
    places = CURRENCIES[currency]
    money = st.integers(min_value=0, max_value=50_000_000).map(lambda units: Decimal(units).scaleb(-places))
    principal = draw(st.integers(min_value=1, max_value=50_000_000).map(lambda u: Decimal(u).scaleb(-places)))
    return AccountTerms(creditor=draw(st.sampled_from(["banco-aurora", "finanzas-norte", "telco-andina", "otra"])),
                        currency=currency, principal=principal, interest=draw(money), fees=draw(money),
                        stage=draw(st.sampled_from(list(Stage))), segment=draw(st.sampled_from([None, "A", "C"])),
                        country=draw(st.sampled_from([None, "MX", "CO", "AR", "CL", "PE"])))


@st.composite
def proposals(draw: st.DrawFn, account: AccountTerms) -> PlanProposal:
    places = CURRENCIES[account.currency]
    total_units = int(account.total.scaleb(places))
    down = Decimal(draw(st.integers(min_value=0, max_value=total_units))).scaleb(-places)
    return PlanProposal(installments=draw(st.integers(min_value=0, max_value=40)), down_payment=down,
                        first_date=TODAY + timedelta(days=draw(st.integers(min_value=-10, max_value=90))),
                        frequency=draw(st.sampled_from(["weekly", "biweekly", "monthly"])))


def within_limits(account: AccountTerms, limits: PolicyLimits, plan_proposal: PlanProposal, schedule) -> bool:  # type: ignore[no-untyped-def]
    """Checked here from the limits themselves, not through the engine's own check."""
    minimum_down = (account.total * limits.min_down_payment_pct / 100)
    return (1 <= plan_proposal.installments <= limits.max_installments
            and plan_proposal.down_payment >= minimum_down
            and plan_proposal.frequency in limits.frequencies
            and TODAY <= plan_proposal.first_date <= TODAY + timedelta(days=limits.max_days_to_first_payment)
            and all(item.amount >= limits.min_installment(account.currency) and item.amount > 0
                    for item in schedule if item.number > 0))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_nothing_outside_the_limits_is_accepted_or_offered(data: st.DataObject) -> None:
    account = data.draw(accounts())
    role = data.draw(st.sampled_from(["bot", "agent", "supervisor"]))
    proposal = data.draw(proposals(account))
    limits = ENGINE.limits(account, role)
    decision = ENGINE.evaluate_plan(account, role, proposal, TODAY)
    plans = ([decision.plan] if decision.plan else []) + list(decision.alternatives)
    if decision.verdict is PolicyVerdict.ACCEPT:
        assert decision.plan is not None and decision.plan.proposal == proposal
    if decision.verdict is PolicyVerdict.REJECT:
        assert plans == [] and decision.reasons
    assert len(decision.alternatives) <= 2
    for plan in plans:
        assert within_limits(account, limits, plan.proposal, plan.schedule)
        assert plan.total == account.total  # to the cent (to the peso for CLP)
        assert all(item.amount == item.amount.quantize(Decimal(1).scaleb(-CURRENCIES[account.currency]))
                   for item in plan.schedule)
        assert [item.due for item in plan.schedule] == sorted(item.due for item in plan.schedule)


@settings(max_examples=200, deadline=None)
@given(account=accounts(), role=st.sampled_from(["bot", "agent", "supervisor"]))
def test_settlement_never_discounts_more_than_allowed(account: AccountTerms, role: str) -> None:
    limits = ENGINE.limits(account, role)  # type: ignore[arg-type]
    amount, valid_until = ENGINE.settlement(account, role, TODAY)  # type: ignore[arg-type]
    base = account.interest + account.fees if limits.settlement_discount_on == "interest_and_fees" else account.total
    assert account.total - base * limits.max_settlement_discount_pct / 100 <= amount <= account.total
    assert valid_until == TODAY + timedelta(days=limits.settlement_valid_days)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(account=accounts(), role=st.sampled_from(["bot", "agent", "supervisor"]))
def test_the_lowest_installment_is_within_the_limits_and_nothing_lower_is(account: AccountTerms, role: str) -> None:
    limits = ENGINE.limits(account, role)  # type: ignore[arg-type]
    plan = ENGINE.lowest_installment_plan(account, role, TODAY)  # type: ignore[arg-type]
    if plan is None:  # then not even one installment fits (tiny balance, or below the minimum installment)
        assert all(ENGINE.violations(account, limits, PlanProposal(n, minimum_down_payment(
            account.total, account.currency, limits), TODAY, f), TODAY)
            for n in range(1, limits.max_installments + 1) for f in limits.frequencies)
        return
    assert within_limits(account, limits, plan.proposal, plan.schedule)
    assert plan.total == account.total
    lowest = min(item.amount for item in plan.schedule if item.number > 0)
    more = plan.proposal.installments + 1  # one more installment of the same kind is never allowed
    if more <= limits.max_installments:
        assert ENGINE.violations(account, limits, PlanProposal(more, plan.proposal.down_payment, TODAY,
                                                                plan.proposal.frequency), TODAY)
    assert lowest > 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_after_a_no_the_next_plan_never_costs_more_per_installment_nor_starts_earlier(data: st.DataObject) -> None:
    account = data.draw(accounts())
    role = data.draw(st.sampled_from(["bot", "agent", "supervisor"]))
    decision = ENGINE.evaluate_plan(account, role, data.draw(proposals(account)), TODAY)
    previous = decision.plan or (decision.alternatives[0] if decision.alternatives else None)
    limits = ENGINE.limits(account, role)
    for _ in range(4):  # "no", "no", "no", "no": each step moves toward the debtor, or stops
        if previous is None:
            return
        following = ENGINE.concession(account, role, previous.proposal, TODAY)
        if following is None:
            return
        assert within_limits(account, limits, following.proposal, following.schedule)
        assert following.total == account.total
        assert following.highest_installment <= previous.highest_installment
        assert following.first_due >= previous.first_due
        assert following.proposal != previous.proposal
        previous = following


def test_a_limit_broken_is_named_with_its_value() -> None:
    account = AccountTerms("finanzas-norte", "MXN", Decimal("4800.00"), Decimal("620.40"), Decimal("0"), Stage.EARLY)
    decision = ENGINE.evaluate_plan(account, "bot", PlanProposal(10, Decimal("0"), TODAY + timedelta(days=90),
                                                                 "monthly"), TODAY)
    broken = dict(decision.limits_broken)
    assert broken["too_many_installments"] == 4
    assert broken["down_payment_too_small"] == Decimal("542.04")  # 10% of 5,420.40
    assert broken["first_payment_too_late"] == TODAY + timedelta(days=15)


def test_cop_plans_are_whole_pesos_and_skip_sundays_and_holidays() -> None:
    account = AccountTerms("banco-aurora", "COP", Decimal("1800000"), Decimal("210000.55"), Decimal("0"),
                           Stage.LATE, country="CO")
    plan = ENGINE.schedule(account, PlanProposal(5, Decimal("0"), date(2026, 12, 8), "monthly"))
    assert [item.amount for item in plan.schedule] == [Decimal("402000")] * 4 + [Decimal("402000.55")]
    # 8 December (Inmaculada Concepción) moves to the 9th; 8 February 2027 is a Monday and stays
    assert [item.due for item in plan.schedule][:3] == [date(2026, 12, 9), date(2027, 1, 8), date(2027, 2, 8)]
    sunday = ENGINE.schedule(account, PlanProposal(1, Decimal("0"), date(2026, 11, 29), "monthly"))
    assert sunday.schedule[0].due == date(2026, 11, 30)


def test_no_discount_is_explained() -> None:
    capital_only = AccountTerms("banco-aurora", "MXN", Decimal("2680.00"), Decimal("0"), Decimal("0"), Stage.LATE)
    assert ENGINE.discount_unavailable_reason(capital_only, "bot") == "nothing_to_discount"
    early = AccountTerms("banco-aurora", "MXN", Decimal("2000"), Decimal("500"), Decimal("180"), Stage.EARLY)
    assert ENGINE.discount_unavailable_reason(early, "bot") == "in_policy"  # no discount at this stage
    late = AccountTerms("banco-aurora", "MXN", Decimal("2000"), Decimal("500"), Decimal("180"), Stage.LATE)
    assert ENGINE.discount_unavailable_reason(late, "bot") is None


def test_limits_resolve_from_role_to_creditor_stage_and_segment() -> None:
    severe = AccountTerms("banco-aurora", "MXN", Decimal("10000"), Decimal("0"), Decimal("0"), Stage.SEVERE, "C")
    assert ENGINE.limits(severe, "bot").max_installments == 12
    assert ENGINE.limits(severe, "bot").pause_on_hardship is True  # segment C
    assert ENGINE.limits(severe, "agent").max_settlement_discount_pct == 35
    early = AccountTerms("finanzas-norte", "MXN", Decimal("10000"), Decimal("0"), Decimal("0"), Stage.EARLY)
    assert ENGINE.limits(early, "bot").max_installments == 4
    assert ENGINE.limits(early, "agent").max_installments == 12


def test_a_plan_in_policy_is_accepted_with_an_exact_schedule() -> None:
    account = AccountTerms("banco-aurora", "MXN", Decimal("12500.00"), Decimal("1830.55"), Decimal("350.00"),
                           Stage.LATE)
    proposal = PlanProposal(6, Decimal("1500.00"), TODAY + timedelta(days=1), "monthly")
    decision = ENGINE.evaluate_plan(account, "bot", proposal, TODAY)
    assert decision.verdict is PolicyVerdict.ACCEPT and decision.plan is not None
    amounts = [item.amount for item in decision.plan.schedule]
    assert amounts == [Decimal("1500.00")] + [Decimal("2196.75")] * 5 + [Decimal("2196.80")]
    assert sum(amounts) == Decimal("14680.55")
    # 27 December 2026 is a Sunday: that installment falls due on Monday the 28th
    assert [item.due for item in decision.plan.schedule][:3] == [date(2026, 11, 27), date(2026, 12, 28),
                                                                 date(2027, 1, 27)]


def test_too_many_installments_gets_the_closest_counter_offers() -> None:
    account = AccountTerms("finanzas-norte", "MXN", Decimal("4800.00"), Decimal("620.40"), Decimal("0"), Stage.EARLY)
    decision = ENGINE.evaluate_plan(account, "bot", PlanProposal(10, Decimal("600"), TODAY, "monthly"), TODAY)
    assert decision.verdict is PolicyVerdict.COUNTER and decision.reasons == ("too_many_installments",)
    assert [plan.proposal.installments for plan in decision.alternatives] == [4, 3]


def test_clp_schedules_have_no_cents() -> None:
    plan = schedule_for(Decimal("1449500"), "CLP", PlanProposal(7, Decimal("149500"), TODAY, "monthly"))
    assert [item.amount for item in plan.schedule] == [Decimal("149500")] + [Decimal("185714")] * 6 + [
        Decimal("185716")]


def test_promises_within_the_window() -> None:
    account = AccountTerms("telco-andina", "PEN", Decimal("890.50"), Decimal("45.20"), Decimal("15.00"), Stage.EARLY)
    assert ENGINE.promise_allowed(account, "bot", TODAY + timedelta(days=15), TODAY) is None
    assert ENGINE.promise_allowed(account, "bot", TODAY + timedelta(days=16), TODAY) == "date_too_far"
    assert ENGINE.promise_allowed(account, "bot", TODAY - timedelta(days=1), TODAY) == "date_in_the_past"


def test_a_bad_policy_file_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    text = (PROJECT_ROOT / "config" / "policy.yml").read_text().replace("max_installments: 6", "max_installments: -1")
    path.write_text(text)
    with pytest.raises(PolicyError, match=r"roles\.bot\.max_installments"):
        PolicyEngine(path).limits(AccountTerms("x", "MXN", Decimal(1), Decimal(0), Decimal(0), Stage.EARLY), "bot")
    path.write_text(text.replace("max_installments: -1", "max_installments: 6").replace(
        "bot: {max_installments: 4}", "bot: {max_cuotas: 4}"))
    with pytest.raises(PolicyError, match=r"creditors\.finanzas-norte\.roles\.bot\.max_cuotas: unknown key"):
        PolicyEngine(path).limits(AccountTerms("x", "MXN", Decimal(1), Decimal(0), Decimal(0), Stage.EARLY), "bot")


def test_edited_limits_apply_without_a_restart(tmp_path: Path) -> None:
    import os

    path = tmp_path / "policy.yml"
    path.write_text((PROJECT_ROOT / "config" / "policy.yml").read_text())
    engine = PolicyEngine(path)
    account = AccountTerms("otra", "MXN", Decimal("10000"), Decimal(0), Decimal(0), Stage.EARLY)
    assert engine.limits(account, "bot").max_installments == 6
    path.write_text(path.read_text().replace("max_installments: 6", "max_installments: 8", 1))
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))
    assert engine.limits(account, "bot").max_installments == 8
