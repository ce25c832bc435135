"""Payments received outside Acuerdo (a bank transfer, cash at a branch): a creditor's CSV applied to the ledger
like any payment, so the bot never chases someone who already paid and the reminders about it stop.

The same style as the portfolio import (bot.ledger.portfolio): every row is checked, a bad one is reported with
its line and a reason a person can act on, and the good ones are applied. Each payment is known by the creditor's
own reference: importing the same file again applies nothing twice.

Columns: creditor, account_id, amount, currency, paid_at (YYYY-MM-DD, or an ISO time with its UTC offset),
method (transfer, cash, deposit, card, other), reference.
"""
from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.ledger.models import Account, AuditLog, Creditor, Payment
from bot.ledger.portfolio import RowError, amount_in, csv_reader, required_text
from bot.payments.events import apply_payment
from bot.payments.links import PaymentProvider, withdraw_links

COLUMNS = ("creditor", "account_id", "amount", "currency", "paid_at", "method", "reference")
METHODS = ("transfer", "cash", "deposit", "card", "other")
EARLIEST = date(2000, 1, 1)


@dataclass
class PaymentsReport:
    rows_read: int = 0
    applied: int = 0
    already_imported: int = 0  # the same reference was imported before: skipped, never applied twice
    accounts_settled: int = 0
    totals: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))  # by currency
    errors: list[RowError] = field(default_factory=list)

    def summary(self) -> str:
        money = ", ".join(f"{total} {currency}" for currency, total in sorted(self.totals.items())) or "nothing"
        return (f"{self.rows_read} rows read, {self.applied} payments applied ({money}), "
                f"{self.already_imported} already imported, {len(self.errors)} rejected; "
                f"{self.accounts_settled} accounts paid off")


@dataclass(frozen=True)
class ExternalPayment:
    line: int
    account: Account
    amount: Decimal
    paid_at: datetime
    method: str
    reference: str

    @property
    def provider_ref(self) -> str:
        return f"external:{self.account.creditor.code}:{self.reference}"


def _paid_at(raw: dict[str, str], now: datetime) -> datetime:
    value = (raw.get("paid_at") or "").strip()
    if not value:
        raise ValueError("paid_at is empty")
    try:
        paid_at = (datetime.combine(date.fromisoformat(value), time(12), UTC) if len(value) == 10
                   else datetime.fromisoformat(value))
    except ValueError:
        raise ValueError(f"paid_at {value!r} is not a date (YYYY-MM-DD) or an ISO time") from None
    if paid_at.tzinfo is None:
        raise ValueError(f"paid_at {value!r} needs its UTC offset (e.g. 2026-11-20T15:30:00-05:00)")
    if paid_at.date() < EARLIEST:
        raise ValueError(f"paid_at {value!r} is too long ago")
    if paid_at > now + timedelta(days=1):
        raise ValueError(f"paid_at {value!r} is in the future")
    return paid_at.astimezone(UTC)


def parse_row(session: Session, raw: dict[str, str], line: int, creditors: dict[str, Creditor],
              now: datetime) -> ExternalPayment:
    """One row, checked against the ledger; raises ValueError with a reason a person can act on."""
    if None in raw:
        raise ValueError("more fields than the header has columns")
    code = required_text(raw, "creditor", 64)
    creditor = creditors.get(code)
    if creditor is None:
        raise ValueError(f"creditor {code!r} is unknown")
    account_id = required_text(raw, "account_id", 64)
    account = session.scalars(select(Account).where(Account.creditor_id == creditor.id,
                                                    Account.external_id == account_id)).first()
    if account is None:
        raise ValueError(f"account {account_id} of {code} is not in the portfolio")
    currency = required_text(raw, "currency", 3).upper()
    if currency != account.currency:
        raise ValueError(f"currency {currency} is not the account's ({account.currency})")
    amount = amount_in(raw, "amount", currency, blank_is_zero=False)
    if amount <= 0:
        raise ValueError("amount must be more than 0")
    method = required_text(raw, "method", 16).lower()
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)}")
    return ExternalPayment(line, account, amount, _paid_at(raw, now), method, required_text(raw, "reference", 180))


def import_payments(session: Session, stream: TextIO, now: datetime, actor: str = "import",
                    provider: PaymentProvider | None = None) -> PaymentsReport:
    """Check every row, apply the good ones (oldest payment first), and report the rest. With the payment
    provider, an account paid off here has its open links expired there too."""
    reader = csv_reader(stream, COLUMNS)
    creditors = {creditor.code: creditor for creditor in session.scalars(select(Creditor))}
    report = PaymentsReport()
    valid: list[ExternalPayment] = []
    first_line_of: dict[str, int] = {}
    for raw in reader:
        line = reader.line_num
        report.rows_read += 1
        try:
            payment = parse_row(session, raw, line, creditors, now)
            earlier = first_line_of.get(payment.provider_ref)
            if earlier is not None:
                raise ValueError(f"reference {payment.reference} is already on line {earlier}")
        except ValueError as exc:
            report.errors.append(RowError(line, str(exc)))
            continue
        first_line_of[payment.provider_ref] = line
        valid.append(payment)
    known = _imported_before(session, [payment.provider_ref for payment in valid])
    for payment in sorted(valid, key=lambda item: (item.paid_at, item.line)):
        before = known.get(payment.provider_ref)
        if before is not None:
            if before != (payment.account.id, payment.amount):  # the same reference for another payment: say so
                report.errors.append(RowError(payment.line, f"reference {payment.reference} was imported before "
                                                            "for another account or amount"))
            else:
                report.already_imported += 1
            continue
        # The balance is rewritten from the row as it is now: lock it, as a Stripe payment does, so two payments
        # landing at once never lose one another.
        account = session.get(Account, payment.account.id, with_for_update=True, populate_existing=True)
        assert account is not None
        applied = apply_payment(session, account, None, payment.amount, payment.paid_at, now,
                                provider=f"external_{payment.method}", provider_ref=payment.provider_ref)
        report.applied += 1
        report.accounts_settled += applied.settled
        report.totals[account.currency] += payment.amount
        if applied.settled and provider is not None:  # no open link may still ask for what was paid elsewhere
            withdraw_links(session, provider, account.id, now)
    session.add(AuditLog(actor=actor, action="external_payments_imported", entity_type="payments", entity_id=None,
                         details={"rows": report.rows_read, "applied": report.applied,
                                  "already_imported": report.already_imported, "rejected": len(report.errors),
                                  "totals": {currency: str(total) for currency, total in report.totals.items()}},
                         at=now))
    session.flush()
    return report


def import_payments_text(session: Session, text: str, now: datetime, actor: str = "import",
                         provider: PaymentProvider | None = None) -> PaymentsReport:
    return import_payments(session, io.StringIO(text), now, actor, provider)


def _imported_before(session: Session, references: list[str], batch: int = 1000) -> dict[str, tuple[int, Decimal]]:
    """The payments already holding these references: account and amount, in batches (a file may be large)."""
    found: dict[str, tuple[int, Decimal]] = {}
    for start in range(0, len(references), batch):
        for reference, account_id, amount in session.execute(
                select(Payment.provider_ref, Payment.account_id, Payment.amount)
                .where(Payment.provider_ref.in_(references[start:start + batch]))):
            found[str(reference)] = (account_id, Decimal(amount))
    return found
