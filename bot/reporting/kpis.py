"""The numbers creditors judge a collections product by, computed in SQL over the ledger for a date range and
the reader's creditors (and optionally a creditor, country, stage or channel).

Every figure counts things that happened in the range (UTC days, both ends included) on the accounts in scope:
accounts of the chosen creditors, of debtors of the chosen country, in the chosen stage on the range's last day.
Rates are None when there is nothing to divide by, never a made-up zero. Money stays per currency (Decimal).
The channel filter narrows what happens in conversations (contacts, hand-offs, the model's readings); money,
promises and plans belong to the account whatever the channel.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, String, and_, case, cast, distinct, func, literal, select
from sqlalchemy.orm import Session

from bot.ledger.models import (
    Account,
    AgreementStatus,
    AuditLog,
    Conversation,
    Creditor,
    Debtor,
    Direction,
    Handoff,
    Installment,
    Message,
    OptOut,
    Payment,
    PaymentPlan,
    Phone,
    PromiseToPay,
)
from bot.ledger.stages import Stage

FALLBACK_INTENT = "nlu_fallback"
# Days past due that make each stage (bot.ledger.stages): (lowest, highest), None for open-ended.
_STAGE_DAYS: dict[Stage, tuple[int | None, int | None]] = {
    Stage.PREVENTIVE: (None, 0), Stage.EARLY: (1, 30), Stage.LATE: (31, 90), Stage.SEVERE: (91, None)}


@dataclass(frozen=True)
class Filters:
    start: date
    end: date  # included
    creditor_ids: frozenset[int] | None = None  # None: every creditor (the reader's scope already applied)
    country: str | None = None
    stage: Stage | None = None
    channel: str | None = None  # whatsapp, sms, demo

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time(0), UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(0), UTC)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _money(rows: Any) -> dict[str, str]:
    return {currency: str(Decimal(total).quantize(Decimal("0.01"))) for currency, total in rows if total is not None}


def stage_on(today: date) -> Any:
    """SQL: the account's stage on `today`, from its due date."""
    return case((Account.due_date >= today, literal(Stage.PREVENTIVE.value)),
                (Account.due_date >= today - timedelta(days=30), literal(Stage.EARLY.value)),
                (Account.due_date >= today - timedelta(days=90), literal(Stage.LATE.value)),
                else_=literal(Stage.SEVERE.value))


def accounts_in_scope(filters: Filters) -> Select[Any]:
    """SQL: the ids of the accounts the figures are about (assigned by the range's end)."""
    query = select(Account.id).join(Debtor, Debtor.id == Account.debtor_id).where(Account.created_at < filters.until,
                                                                                   Debtor.is_demo.is_(False))
    if filters.creditor_ids is not None:
        query = query.where(Account.creditor_id.in_(filters.creditor_ids))
    if filters.country:
        query = query.where(Debtor.country == filters.country)
    if filters.stage is not None:
        low, high = _STAGE_DAYS[filters.stage]
        if low is not None:
            query = query.where(Account.due_date <= filters.end - timedelta(days=low))
        if high is not None:
            query = query.where(Account.due_date >= filters.end - timedelta(days=high))
    return query


def _debtors_in_scope(filters: Filters) -> Select[Any]:
    return select(Account.debtor_id).where(Account.id.in_(accounts_in_scope(filters)))


def _conversations(filters: Filters) -> Select[Any]:
    """SQL: conversations of debtors in scope in which the debtor wrote during the range (on the chosen channel):
    a reminder nobody answered is no conversation the bot contained."""
    query = (select(Conversation.id).where(Conversation.debtor_id.in_(_debtors_in_scope(filters)))
             .where(select(Message.id).where(Message.conversation_id == Conversation.id,
                                             Message.direction == Direction.INBOUND,
                                             Message.created_at >= filters.since,
                                             Message.created_at < filters.until).exists()))
    if filters.channel:
        query = query.where(Conversation.channel == filters.channel)
    return query


@dataclass
class Kpis:
    filters: dict[str, Any]
    accounts: dict[str, Any] = field(default_factory=dict)
    contact: dict[str, Any] = field(default_factory=dict)
    recovery: list[dict[str, Any]] = field(default_factory=list)
    promises: dict[str, Any] = field(default_factory=dict)
    plans: dict[str, Any] = field(default_factory=dict)
    payments_by_method: list[dict[str, Any]] = field(default_factory=list)
    handoffs: dict[str, Any] = field(default_factory=dict)
    bot: dict[str, Any] = field(default_factory=dict)
    opt_outs: int = 0
    median_days_to_first_payment: float | None = None
    daily: list[dict[str, Any]] = field(default_factory=list)  # per UTC day: contacts, payments, collected


def compute(session: Session, filters: Filters) -> Kpis:
    scope = accounts_in_scope(filters)
    in_range = lambda column: and_(column >= filters.since, column < filters.until)  # noqa: E731
    kpis = Kpis({"from": filters.start.isoformat(), "to": filters.end.isoformat(), "country": filters.country,
                 "stage": filters.stage.value if filters.stage else None, "channel": filters.channel,
                 "creditors": sorted(session.scalars(select(Creditor.code).where(
                     Creditor.id.in_(filters.creditor_ids)))) if filters.creditor_ids is not None else None})

    # Assigned: what is owed now plus what payments took off it (a settlement's write-off included; money above
    # the balance, refunded, not). Collected: what was received, less what is refunded.
    paid_ever = (select(Payment.account_id, func.sum(Payment.amount - Payment.overpaid + Payment.forgiven)
                        .label("paid")).group_by(Payment.account_id).subquery())
    paid_in_range = (select(Payment.account_id, func.sum(Payment.amount - Payment.overpaid).label("paid"))
                     .where(in_range(Payment.paid_at)).group_by(Payment.account_id).subquery())
    stage = stage_on(filters.end).label("stage")
    balance = Account.principal + Account.interest + Account.fees
    rows = session.execute(
        select(Creditor.code, Debtor.country, stage, Account.currency, func.count(Account.id),
               func.sum(balance + func.coalesce(paid_ever.c.paid, 0)), func.sum(func.coalesce(paid_in_range.c.paid, 0)))
        .join(Creditor, Creditor.id == Account.creditor_id).join(Debtor, Debtor.id == Account.debtor_id)
        .outerjoin(paid_ever, paid_ever.c.account_id == Account.id)
        .outerjoin(paid_in_range, paid_in_range.c.account_id == Account.id)
        .where(Account.id.in_(scope))
        .group_by(Creditor.code, Debtor.country, stage, Account.currency)
        .order_by(Creditor.code, Debtor.country, stage, Account.currency)).all()
    assigned: dict[str, Decimal] = defaultdict(Decimal)
    for code, country, stage_value, currency, count, owed, collected in rows:
        owed, collected = Decimal(owed or 0), Decimal(collected or 0)
        assigned[currency] += owed
        kpis.recovery.append({"creditor": code, "country": country, "stage": stage_value, "currency": currency,
                              "accounts": count, "assigned": str(owed.quantize(Decimal("0.01"))),
                              "collected": str(collected.quantize(Decimal("0.01"))),
                              "recovery": round(float(collected / owed), 4) if owed else None})
    kpis.accounts = {"assigned": sum(row["accounts"] for row in kpis.recovery),
                     "amount_assigned": {c: str(v.quantize(Decimal("0.01"))) for c, v in sorted(assigned.items())}}

    contacted = select(Conversation.debtor_id).join(Message, Message.conversation_id == Conversation.id).where(
        Message.direction == Direction.OUTBOUND, in_range(Message.created_at),
        Conversation.debtor_id.in_(_debtors_in_scope(filters)))
    if filters.channel:
        contacted = contacted.where(Message.channel == filters.channel)
    reached = contacted.distinct().subquery()  # kept in SQL: a large ledger contacts more debtors than IN () holds
    debtors_contacted = session.scalar(select(func.count()).select_from(reached)) or 0
    accounts_contacted = session.scalar(select(func.count()).select_from(Account).where(
        Account.id.in_(scope), Account.debtor_id.in_(select(reached.c.debtor_id)))) or 0
    verified = select(AuditLog.entity_id).where(AuditLog.action == "identity_verified",
                                                AuditLog.entity_type == "debtor", in_range(AuditLog.at))
    right_party = session.scalar(select(func.count()).select_from(reached).where(
        cast(reached.c.debtor_id, String).in_(verified))) or 0
    kpis.contact = {"accounts_contacted": accounts_contacted, "debtors_contacted": debtors_contacted,
                    "right_party_contacts": right_party, "right_party_contact_rate": _rate(right_party,
                                                                                         debtors_contacted)}

    made, kept = session.execute(select(func.count(PromiseToPay.id), func.count(case(
        (PromiseToPay.status == AgreementStatus.KEPT, PromiseToPay.id)))).where(
        PromiseToPay.account_id.in_(scope), in_range(PromiseToPay.created_at))).one()
    kpis.promises = {"made": made, "kept": kept, "kept_rate": _rate(kept, made)}

    broken = select(Installment.id).where(Installment.plan_id == PaymentPlan.id,
                                          Installment.status == AgreementStatus.BROKEN).exists()
    created, on_track = session.execute(select(func.count(PaymentPlan.id), func.count(case(
        (and_(PaymentPlan.status.in_((AgreementStatus.PENDING, AgreementStatus.KEPT)), ~broken), PaymentPlan.id))))
        .where(PaymentPlan.account_id.in_(scope), in_range(PaymentPlan.created_at))).one()
    kpis.plans = {"created": created, "on_track": on_track, "on_track_rate": _rate(on_track, created)}

    kpis.payments_by_method = [
        {"method": provider, "currency": currency, "payments": count, "amount": str(Decimal(total).quantize(
            Decimal("0.01")))}
        for provider, currency, count, total in session.execute(
            select(Payment.provider, Payment.currency, func.count(Payment.id), func.sum(Payment.amount))
            .where(Payment.account_id.in_(scope), in_range(Payment.paid_at))
            .group_by(Payment.provider, Payment.currency).order_by(Payment.provider, Payment.currency))]

    conversations = _conversations(filters)
    total_conversations = session.scalar(select(func.count()).select_from(conversations.subquery())) or 0
    handed = (Handoff.conversation_id.in_(conversations), in_range(Handoff.requested_at))
    with_handoff = session.scalar(select(func.count(distinct(Handoff.conversation_id))).where(*handed)) or 0
    reasons = {reason: count for reason, count in session.execute(
        select(Handoff.reason, func.count(Handoff.id)).where(*handed).group_by(Handoff.reason)
        .order_by(Handoff.reason))}
    handled = [(ended - claimed).total_seconds() for claimed, ended in session.execute(
        select(Handoff.claimed_at, Handoff.ended_at).where(
            Handoff.conversation_id.in_(_conversations_of_scope(filters)), Handoff.claimed_at.is_not(None),
            Handoff.ended_at.is_not(None), in_range(Handoff.ended_at)))]
    kpis.handoffs = {"conversations": total_conversations, "handed_off": with_handoff,
                     "handoff_rate": _rate(with_handoff, total_conversations), "reasons": reasons,
                     "median_agent_handling_seconds": round(statistics.median(handled)) if handled else None}

    inbound = select(Message.intent).join(Conversation, Conversation.id == Message.conversation_id).where(
        Message.direction == Direction.INBOUND, in_range(Message.created_at), Message.intent.is_not(None),
        Conversation.debtor_id.in_(_debtors_in_scope(filters)))
    if filters.channel:
        inbound = inbound.where(Message.channel == filters.channel)
    read = inbound.subquery()
    classified, fallbacks = session.execute(select(func.count(), func.count(case(
        (read.c.intent == FALLBACK_INTENT, 1)))).select_from(read)).one()
    kpis.bot = {"contained": total_conversations - with_handoff,
                "containment_rate": _rate(total_conversations - with_handoff, total_conversations),
                "messages_classified": classified, "nlu_fallbacks": fallbacks,
                "nlu_fallback_rate": _rate(fallbacks, classified)}

    kpis.opt_outs = session.scalar(select(func.count(distinct(OptOut.id))).join(Phone, Phone.e164 == OptOut.e164)
                                   .where(Phone.debtor_id.in_(_debtors_in_scope(filters)),
                                          in_range(OptOut.created_at))) or 0

    first_payment = (select(Account.debtor_id, func.min(Payment.paid_at).label("paid_at"))
                     .join(Payment, Payment.account_id == Account.id).where(Account.id.in_(scope))
                     .group_by(Account.debtor_id).subquery())
    first_contact = (select(Conversation.debtor_id, func.min(Message.created_at).label("at"))
                     .join(Message, Message.conversation_id == Conversation.id)
                     .where(Message.direction == Direction.OUTBOUND).group_by(Conversation.debtor_id).subquery())
    gaps = [(paid - contact).total_seconds() / 86400 for contact, paid in session.execute(
        select(first_contact.c.at, first_payment.c.paid_at)
        .join(first_payment, first_payment.c.debtor_id == first_contact.c.debtor_id)
        .where(in_range(first_payment.c.paid_at), first_contact.c.at <= first_payment.c.paid_at))]
    kpis.median_days_to_first_payment = round(statistics.median(gaps), 2) if gaps else None
    kpis.daily = _daily(session, filters, contacted, scope)
    return kpis


def _daily(session: Session, filters: Filters, contacted: Select[Any], scope: Select[Any]) -> list[dict[str, Any]]:
    """Every day of the range (none left out, so a chart's gaps are real): outbound contacts, payments, money."""
    days: dict[date, dict[str, Any]] = {filters.start + timedelta(days=n): {"contacts": 0, "payments": 0,
                                                                            "collected": {}}
                                        for n in range((filters.end - filters.start).days + 1)}
    sent = contacted.with_only_columns(func.date(Message.created_at), func.count(Message.id)).group_by(
        func.date(Message.created_at))
    for day, count in session.execute(sent):
        days[_day(day)]["contacts"] = count
    paid = (select(func.date(Payment.paid_at), Payment.currency, func.count(Payment.id),
                   func.sum(Payment.amount - Payment.overpaid))
            .where(Payment.account_id.in_(scope), Payment.paid_at >= filters.since, Payment.paid_at < filters.until)
            .group_by(func.date(Payment.paid_at), Payment.currency))
    for day, currency, count, total in session.execute(paid):
        entry = days[_day(day)]
        entry["payments"] += count
        entry["collected"][currency] = str(Decimal(total).quantize(Decimal("0.01")))
    return [{"day": day.isoformat(), **values} for day, values in sorted(days.items())]


def _day(value: Any) -> date:
    """SQL's date(): a date on PostgreSQL, 'YYYY-MM-DD' text on SQLite."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _conversations_of_scope(filters: Filters) -> Select[Any]:
    query = select(Conversation.id).where(Conversation.debtor_id.in_(_debtors_in_scope(filters)))
    return query.where(Conversation.channel == filters.channel) if filters.channel else query
