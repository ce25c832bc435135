"""Agreements with a verified debtor: promises to pay, settlement offers, and the cases a person must see.

Every limit comes from the policy engine (bot/negotiation/policy.py); this module only applies its answers to the
ledger, so actions and agents share one path.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.common.parsing import parse_amount, parse_date
from bot.ledger.models import (
    Account,
    AccountStatus,
    AgreementStatus,
    AuditLog,
    Debtor,
    Installment,
    Payment,
    PaymentPlan,
    PromiseToPay,
)
from bot.negotiation.policy import (
    AccountTerms,
    Frequency,
    Plan,
    PlanProposal,
    PolicyDecision,
    PolicyEngine,
    PolicyVerdict,
    Role,
    minimum_down_payment,
)

CaseReason = Literal["dispute", "hardship", "already_paid"]


@lru_cache(maxsize=1)
def policy_engine() -> PolicyEngine:
    return PolicyEngine()


def terms_of(account: Account, today: date) -> AccountTerms:
    return AccountTerms(creditor=account.creditor.code, currency=account.currency, principal=account.principal,
                        interest=account.interest, fees=account.fees, stage=account.stage(today),
                        segment=account.segment)


def negotiable_account(session: Session, debtor: Debtor) -> Account | None:
    """The account a conversation negotiates: the most overdue active one, those whose collection is not
    paused first. A pause (dispute, hardship) stops our reminders, never the debtor's own wish to pay."""
    return session.scalars(
        select(Account).options(selectinload(Account.creditor))
        .where(Account.debtor_id == debtor.id, Account.status == AccountStatus.ACTIVE)
        .order_by(Account.collection_paused_reason.is_not(None), Account.due_date, Account.id).limit(1)).first()


@dataclass(frozen=True)
class PromiseOutcome:
    status: Literal["recorded", "unreadable", "past", "too_far", "no_account"]
    promised_date: date | None = None
    latest_date: date | None = None
    promise: PromiseToPay | None = None


def record_promise(session: Session, debtor: Debtor, text: str, today: date, role: Role = "bot",
                   created_by: str = "bot") -> PromiseOutcome:
    """'te pago el viernes' → a pending PromiseToPay, if the date reads and the policy allows it."""
    account = negotiable_account(session, debtor)
    if account is None:
        return PromiseOutcome("no_account")
    promised = parse_date(text, today)
    latest = today + timedelta(days=policy_engine().limits(terms_of(account, today), role).max_promise_days)
    if promised is None:
        return PromiseOutcome("unreadable", latest_date=latest)
    refusal = policy_engine().promise_allowed(terms_of(account, today), role, promised, today)
    if refusal == "date_in_the_past":
        return PromiseOutcome("past", promised, latest)
    if refusal == "date_too_far":
        return PromiseOutcome("too_far", promised, latest)
    amount = parse_amount(text)
    for earlier in session.scalars(select(PromiseToPay).where(PromiseToPay.account_id == account.id,
                                                              PromiseToPay.status == AgreementStatus.PENDING)):
        earlier.status = AgreementStatus.CANCELLED  # the newest promise replaces an open one
    promise = PromiseToPay(account_id=account.id, promised_date=promised, amount=_plausible(amount, account),
                           currency=account.currency, status=AgreementStatus.PENDING, created_by=created_by)
    session.add(promise)
    session.add(AuditLog(actor=created_by, action="promise_recorded", entity_type="account",
                         entity_id=str(account.id), details={"promised_date": promised.isoformat()}))
    session.flush()
    return PromiseOutcome("recorded", promised, latest, promise)


def _plausible(amount: Decimal | None, account: Account) -> Decimal | None:
    """An amount said with the promise, kept only if it can be a payment on this account."""
    exponent = amount.as_tuple().exponent if amount is not None else 0
    if amount is None or amount <= 0 or amount > account.total or not isinstance(exponent, int) or exponent < -2:
        return None
    return amount


@dataclass(frozen=True)
class SettlementOffer:
    account: Account
    amount: Decimal
    valid_until: date

    @property
    def discounted(self) -> bool:
        return self.amount < self.account.total


def settlement_offer(session: Session, debtor: Debtor, today: date, role: Role = "bot") -> SettlementOffer | None:
    account = negotiable_account(session, debtor)
    if account is None:
        return None
    amount, valid_until = policy_engine().settlement(terms_of(account, today), role, today)
    session.add(AuditLog(actor="bot", action="settlement_offered", entity_type="account", entity_id=str(account.id),
                         details={"amount": str(amount), "valid_until": valid_until.isoformat()}))
    return SettlementOffer(account, amount, valid_until)


def report_case(session: Session, debtor: Debtor, reason: CaseReason, today: date, role: Role = "bot") -> bool:
    """Record what the debtor said; pause automated collection where the policy says so. Returns paused."""
    account = negotiable_account(session, debtor)
    paused = False
    if account is not None and reason in ("dispute", "hardship"):
        limits = policy_engine().limits(terms_of(account, today), role)
        if (limits.pause_on_dispute if reason == "dispute" else limits.pause_on_hardship):
            account.collection_paused_reason = reason
            paused = True
    session.add(AuditLog(actor="bot", action=f"{reason}_reported", entity_type="debtor", entity_id=str(debtor.id),
                         details={"account_id": account.id if account else None, "collection_paused": paused}))
    return paused


def recent_payments(session: Session, debtor: Debtor, since: datetime) -> list[Payment]:
    return list(session.scalars(
        select(Payment).join(Account).where(Account.debtor_id == debtor.id, Payment.paid_at >= since)
        .order_by(Payment.paid_at.desc())))


# --- payment plans ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlanTerms:
    """What the debtor said about the plan: a number of installments, or an amount per installment."""

    installments: int | None
    per_installment: Decimal | None
    frequency: Frequency


def parse_plan_terms(text: str) -> PlanTerms | None:
    """'6', 'en 6 cuotas', '800 al mes', 'te doy 300 por semana' → PlanTerms; None if neither is there."""
    plain = " ".join(text.lower().split())
    frequency: Frequency = "weekly" if re.search(r"semana", plain) else (
        "biweekly" if re.search(r"quincena|quincenal", plain) else "monthly")
    count = re.search(r"\b(\d{1,2})\s*(?:cuotas?|pagos?|meses|mensualidades|partes|quincenas|semanas|abonos)\b",
                      plain)
    if count:
        return PlanTerms(int(count.group(1)), None, frequency)
    if re.fullmatch(r"\d{1,2}", plain):
        return PlanTerms(int(plain), None, frequency)
    amount = parse_amount(text)
    if amount is not None and amount > 0:
        return PlanTerms(None, amount, frequency)
    return None


def plan_proposal(account: Account, terms: PlanTerms, down_payment: Decimal, first_date: date) -> PlanProposal:
    """The proposal the debtor's words describe; an amount per installment becomes a number of them."""
    if terms.installments is not None:
        count = terms.installments
    else:
        assert terms.per_installment is not None
        count = max(1, math.ceil((account.total - down_payment) / terms.per_installment))
    return PlanProposal(installments=count, down_payment=down_payment, first_date=first_date,
                        frequency=terms.frequency)


def evaluate_plan(account: Account, proposal: PlanProposal, today: date, role: Role = "bot") -> PolicyDecision:
    return policy_engine().evaluate_plan(terms_of(account, today), role, proposal, today)


def lowest_installment_plan(account: Account, today: date, role: Role = "bot") -> Plan | None:
    return policy_engine().lowest_installment_plan(terms_of(account, today), role, today)


def minimum_down(account: Account, today: date, role: Role = "bot") -> Decimal:
    return minimum_down_payment(account.total, account.currency, policy_engine().limits(terms_of(account, today), role))


def proposal_to_json(proposal: PlanProposal) -> dict[str, str | int]:
    return {"installments": proposal.installments, "down_payment": str(proposal.down_payment),
            "first_date": proposal.first_date.isoformat(), "frequency": proposal.frequency}


def proposal_from_json(data: dict[str, str | int]) -> PlanProposal:
    return PlanProposal(installments=int(data["installments"]), down_payment=Decimal(str(data["down_payment"])),
                        first_date=date.fromisoformat(str(data["first_date"])),
                        frequency=str(data["frequency"]))  # type: ignore[arg-type]


def create_plan(session: Session, account: Account, proposal: PlanProposal, today: date, role: Role = "bot",
                created_by: str = "bot") -> PaymentPlan | None:
    """Store the plan, re-checked against the policy right now; None if it no longer fits."""
    decision = evaluate_plan(account, proposal, today, role)
    if decision.verdict is not PolicyVerdict.ACCEPT or decision.plan is None:
        return None
    for earlier in session.scalars(select(PaymentPlan).where(PaymentPlan.account_id == account.id,
                                                             PaymentPlan.status == AgreementStatus.PENDING)):
        earlier.status = AgreementStatus.CANCELLED  # the new agreement replaces the open one
    plan = PaymentPlan(account_id=account.id, total=decision.plan.total, down_payment=proposal.down_payment,
                       frequency=proposal.frequency, currency=account.currency, status=AgreementStatus.PENDING,
                       created_by=created_by)
    plan.installments = [Installment(number=item.number, due_date=item.due, amount=item.amount,
                                     status=AgreementStatus.PENDING) for item in decision.plan.schedule]
    session.add(plan)
    session.add(AuditLog(actor=created_by, action="plan_created", entity_type="account", entity_id=str(account.id),
                         details={"total": str(plan.total), "payments": len(plan.installments)}))
    session.flush()
    return plan
