"""Agreements with a verified debtor: promises to pay, settlement offers, and the cases a person must see.

Every limit comes from the policy engine (bot/negotiation/policy.py); this module only applies its answers to the
ledger, so actions and agents share one path.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Literal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, selectinload

from bot.common.locale import cash_unit
from bot.common.parsing import parse_amount, parse_date
from bot.ledger.balances import next_installment
from bot.ledger.models import (
    Account,
    AccountStatus,
    AgreementStatus,
    AuditLog,
    CampaignSend,
    Debtor,
    Installment,
    Payment,
    PaymentPlan,
    PromiseToPay,
    utcnow,
)
from bot.negotiation.policy import (
    AccountTerms,
    Plan,
    PlanProposal,
    PolicyDecision,
    PolicyEngine,
    PolicyVerdict,
    Role,
    minimum_down_payment,
)
from bot.negotiation.requests import PlanRequest

CaseReason = Literal["dispute", "hardship", "already_paid"]


@lru_cache(maxsize=1)
def policy_engine() -> PolicyEngine:
    return PolicyEngine()


def terms_of(account: Account, today: date) -> AccountTerms:
    return AccountTerms(creditor=account.creditor.code, currency=account.currency, principal=account.principal,
                        interest=account.interest, fees=account.fees, stage=account.stage(today),
                        segment=account.segment, country=account.debtor.country)


REMINDER_FOCUS = timedelta(days=14)  # a debtor answering within this of a reminder talks about its account


def negotiable_account(session: Session, debtor: Debtor) -> Account | None:
    """The account a conversation negotiates: the one the last reminder was about, else the most overdue
    active one; those whose collection is not paused first. A pause (dispute, hardship) stops our reminders,
    never the debtor's own wish to pay."""
    reminded = (select(CampaignSend.account_id).join(Account, Account.id == CampaignSend.account_id)
                .where(Account.debtor_id == debtor.id, CampaignSend.message_id.is_not(None),
                       CampaignSend.created_at > utcnow() - REMINDER_FOCUS)
                .order_by(CampaignSend.id.desc()).limit(1).scalar_subquery())
    return session.scalars(
        select(Account).options(selectinload(Account.creditor))
        .where(Account.debtor_id == debtor.id, Account.status == AccountStatus.ACTIVE)
        .order_by(Account.collection_paused_reason.is_not(None),
                  case((Account.id == func.coalesce(reminded, -1), 0), else_=1), Account.due_date, Account.id)
        .limit(1)).first()


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
    latest = latest_promise_date(account, today, role)
    if promised is None:
        return PromiseOutcome("unreadable", latest_date=latest)
    refusal = policy_engine().promise_allowed(terms_of(account, today), role, promised, today)
    if refusal == "date_in_the_past":
        return PromiseOutcome("past", promised, latest)
    if refusal == "date_too_far":
        return PromiseOutcome("too_far", promised, latest)
    amount = _plausible(parse_amount(text), account)
    if amount is None:  # "te pago el viernes": what is due, so the confirmation can say how much
        upcoming = next_installment(session, account)
        amount = upcoming.amount - upcoming.paid_amount if upcoming is not None else account.total
    for earlier in session.scalars(select(PromiseToPay).where(PromiseToPay.account_id == account.id,
                                                              PromiseToPay.status == AgreementStatus.PENDING)):
        earlier.status = AgreementStatus.CANCELLED  # the newest promise replaces an open one
    promise = PromiseToPay(account_id=account.id, promised_date=promised, amount=amount,
                           currency=account.currency, status=AgreementStatus.PENDING, created_by=created_by)
    session.add(promise)
    session.add(AuditLog(actor=created_by, action="promise_recorded", entity_type="account",
                         entity_id=str(account.id), details={"promised_date": promised.isoformat()}))
    session.flush()
    return PromiseOutcome("recorded", promised, latest, promise)


def latest_promise_date(account: Account, today: date, role: Role = "bot") -> date:
    return today + timedelta(days=policy_engine().limits(terms_of(account, today), role).max_promise_days)


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

def plan_proposal(account: Account, request: PlanRequest, today: date) -> PlanProposal:
    """The proposal the debtor's words describe: a share of the balance priced in cash units, an amount per
    installment turned into a number of them, monthly and starting today unless they said otherwise."""
    unit = cash_unit(account.currency)
    if request.down_share is not None:
        share = request.down_share
        down = (account.total * share.numerator / share.denominator).quantize(unit, rounding=ROUND_HALF_UP)
    else:
        down = request.down_payment if request.down_payment is not None else Decimal(0)
    if request.installments is not None:
        count = request.installments
    elif request.per_installment:
        count = max(1, math.ceil((account.total - down) / request.per_installment))
    else:
        count = 1
    return PlanProposal(installments=count, down_payment=down, first_date=request.first_date or today,
                        frequency=request.frequency or "monthly")


def evaluate_plan(account: Account, proposal: PlanProposal, today: date, role: Role = "bot") -> PolicyDecision:
    return policy_engine().evaluate_plan(terms_of(account, today), role, proposal, today)


def concession(account: Account, previous: PlanProposal, today: date, role: Role = "bot") -> Plan | None:
    return policy_engine().concession(terms_of(account, today), role, previous, today)


def discount_unavailable_reason(account: Account, today: date, role: Role = "bot") -> str | None:
    """Why a one-payment settlement brings no discount ('in_policy': none at this stage; 'nothing_to_discount':
    the balance is all principal), or None when there is one."""
    return policy_engine().discount_unavailable_reason(terms_of(account, today), role)


@dataclass(frozen=True)
class SettlementAnswer:
    """The answer to "te doy X y quedamos a mano": accepted as offered, countered with the lowest amount the
    policy allows, or (no discount at all) for a person to review."""

    status: Literal["accepted", "countered", "for_a_person", "full_amount"]
    account: Account
    offered: Decimal
    amount: Decimal
    valid_until: date


def answer_settlement_offer(session: Session, debtor: Debtor, offered: Decimal, today: date,
                            role: Role = "bot") -> SettlementAnswer | None:
    account = negotiable_account(session, debtor)
    if account is None:
        return None
    terms = terms_of(account, today)
    lowest, valid_until = policy_engine().settlement(terms, role, today)
    if offered >= account.total:
        status: Literal["accepted", "countered", "for_a_person", "full_amount"] = "full_amount"
        amount = account.total
    elif not policy_engine().settlement_violations(terms, role, offered.quantize(cash_unit(account.currency)), today):
        status, amount = "accepted", offered.quantize(cash_unit(account.currency))
    elif lowest < account.total:
        status, amount = "countered", lowest
    else:
        status, amount = "for_a_person", account.total
    session.add(AuditLog(actor="bot", action=f"settlement_offer_{status}", entity_type="account",
                         entity_id=str(account.id), details={"offered": str(offered), "amount": str(amount),
                                                            "valid_until": valid_until.isoformat()}))
    return SettlementAnswer(status, account, offered, amount, valid_until)


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
