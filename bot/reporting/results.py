"""Results per account for a creditor: what was done and what came of it, one CSV row per account, for the
creditor's own systems. Identifies accounts and debtors by the creditor's ids only: no names, numbers or documents.
A debtor may owe several creditors and conversations are the debtor's: contacts and hand-offs count the person's
(never their content); agents' outcomes, which may be about another creditor, are left out.

Contacts, promises, plans and payments count what happened in the range (UTC days, both ends included); the
balance and the opt-out are as they are now.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session

from bot.ledger.models import (
    Account,
    AgreementStatus,
    Conversation,
    Debtor,
    Direction,
    Handoff,
    Message,
    OptOut,
    Payment,
    PaymentPlan,
    Phone,
    PromiseToPay,
)
from bot.reporting.kpis import Filters, stage_on

COLUMNS = ("account_id", "debtor_id", "country", "stage", "currency", "assigned", "balance", "paid_in_range",
           "payments_in_range", "last_payment_at", "contacts_in_range", "last_contact_at", "promises_made",
           "promises_kept", "plans_created", "plan_status", "handed_off", "opted_out", "outcome")


def result_rows(session: Session, creditor_id: int, start: date, end: date) -> Iterator[dict[str, Any]]:
    filters = Filters(start, end, frozenset({creditor_id}))
    since, until = filters.since, filters.until

    def in_range(column: Any) -> Any:
        return (column >= since) & (column < until)

    paid_ever = (select(Payment.account_id, func.sum(Payment.amount - Payment.overpaid + Payment.forgiven)
                        .label("total")).group_by(Payment.account_id).subquery())
    paid = (select(Payment.account_id, func.sum(Payment.amount - Payment.overpaid).label("total"),
                   func.count(Payment.id).label("count"),
                   func.max(Payment.paid_at).label("last"))
            .where(in_range(Payment.paid_at)).group_by(Payment.account_id).subquery())
    contacts = (select(Conversation.debtor_id, func.count(Message.id).label("count"),
                       func.max(Message.created_at).label("last"))
                .join(Message, Message.conversation_id == Conversation.id)
                .where(Message.direction == Direction.OUTBOUND, in_range(Message.created_at))
                .group_by(Conversation.debtor_id).subquery())
    promises = (select(PromiseToPay.account_id, func.count(PromiseToPay.id).label("made"),
                       func.count(case((PromiseToPay.status == AgreementStatus.KEPT, 1))).label("kept"))
                .where(in_range(PromiseToPay.created_at)).group_by(PromiseToPay.account_id).subquery())
    plans = (select(PaymentPlan.account_id, func.count(PaymentPlan.id).label("created"),
                    func.max(PaymentPlan.id).label("latest"))
             .where(in_range(PaymentPlan.created_at)).group_by(PaymentPlan.account_id).subquery())
    handed = (select(Conversation.debtor_id, func.count(Handoff.id).label("count"))
              .join(Handoff, Handoff.conversation_id == Conversation.id)
              .where(in_range(Handoff.requested_at)).group_by(Conversation.debtor_id).subquery())
    opted_out = exists(select(OptOut.id).join(Phone, Phone.e164 == OptOut.e164)
                       .where(Phone.debtor_id == Account.debtor_id))
    balance = Account.principal + Account.interest + Account.fees
    query = (select(Account.external_id, Debtor.external_id, Debtor.country, stage_on(end), Account.currency,
                    balance + func.coalesce(paid_ever.c.total, 0), balance, func.coalesce(paid.c.total, 0),
                    func.coalesce(paid.c.count, 0), paid.c.last, func.coalesce(contacts.c.count, 0), contacts.c.last,
                    func.coalesce(promises.c.made, 0), func.coalesce(promises.c.kept, 0),
                    func.coalesce(plans.c.created, 0), PaymentPlan.status, func.coalesce(handed.c.count, 0),
                    opted_out)
             .join(Debtor, Debtor.id == Account.debtor_id)
             .outerjoin(paid_ever, paid_ever.c.account_id == Account.id)
             .outerjoin(paid, paid.c.account_id == Account.id)
             .outerjoin(contacts, contacts.c.debtor_id == Account.debtor_id)
             .outerjoin(promises, promises.c.account_id == Account.id)
             .outerjoin(plans, plans.c.account_id == Account.id)
             .outerjoin(PaymentPlan, PaymentPlan.id == plans.c.latest)
             .outerjoin(handed, handed.c.debtor_id == Account.debtor_id)
             .where(Account.creditor_id == creditor_id, Account.created_at < until, Debtor.is_demo.is_(False))
             .order_by(Account.external_id)
             .execution_options(yield_per=2000))
    for row in session.execute(query):
        (account_id, debtor_id, country, stage, currency, assigned, owed, paid_total, payments, last_payment,
         contact_count, last_contact, made, kept, created, plan_status, handoffs, opted) = row
        values = {"account_id": account_id, "debtor_id": debtor_id, "country": country, "stage": stage,
                  "currency": currency, "assigned": _money(assigned), "balance": _money(owed),
                  "paid_in_range": _money(paid_total), "payments_in_range": payments,
                  "last_payment_at": _when(last_payment), "contacts_in_range": contact_count,
                  "last_contact_at": _when(last_contact), "promises_made": made, "promises_kept": kept,
                  "plans_created": created, "plan_status": str(plan_status) if plan_status else "",
                  "handed_off": handoffs, "opted_out": bool(opted)}
        values["outcome"] = _outcome(values, owed)
        yield values


def _money(value: Any) -> str:
    return str(Decimal(value or 0).quantize(Decimal("0.01")))


def _when(value: Any) -> str:
    return value.isoformat() if value is not None else ""


def _outcome(row: dict[str, Any], owed: Any) -> str:
    """One word for what came of the account in the range, the strongest first."""
    if Decimal(owed or 0) == 0 and Decimal(row["paid_in_range"]) > 0:
        return "paid"
    if Decimal(row["paid_in_range"]) > 0:
        return "partial_payment"
    if row["plans_created"]:
        return "plan"
    if row["promises_made"]:
        return "promise"
    if row["opted_out"]:
        return "opted_out"
    if row["handed_off"]:
        return "handed_off"
    return "contacted" if row["contacts_in_range"] else "not_contacted"


def _cell(value: Any) -> Any:
    """Ids come from the creditor's own files: text a spreadsheet would run as a formula is quoted as text."""
    return f"'{value}" if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") else value


def results_csv(session: Session, creditor_id: int, start: date, end: date) -> Iterator[str]:
    """The rows as CSV text, a chunk at a time (a large portfolio is never held whole)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for number, row in enumerate(result_rows(session, creditor_id, start, end), start=1):
        writer.writerow({key: _cell(value) for key, value in row.items()})
        if number % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
