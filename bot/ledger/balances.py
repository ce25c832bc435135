"""What a verified debtor owes, account by account, ready to show in their locale."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.common.locale import format_long_date, format_money, locale_for_country
from bot.ledger.models import Account, AccountStatus, AgreementStatus, Debtor, Installment, PaymentPlan
from bot.ledger.stages import Stage


@dataclass(frozen=True)
class AccountBalance:
    account_id: int
    creditor: str
    product: str
    account_ref: str  # the last four characters: enough to recognise, too few to misuse
    currency: str
    principal: Decimal
    interest: Decimal
    fees: Decimal
    total: Decimal
    due_date: date
    days_past_due: int
    stage: Stage

    @property
    def response(self) -> str:
        """The domain response that tells this balance."""
        return "utter_account_balance_overdue" if self.days_past_due > 0 else "utter_account_balance_not_due"

    def formatted(self, locale: str) -> dict[str, str]:
        """The variables of the `utter_account_balance` response."""
        return {
            "creditor": self.creditor,
            "product": self.product,
            "account_ref": self.account_ref,
            "principal": format_money(self.principal, self.currency, locale),
            "interest": format_money(self.interest, self.currency, locale),
            "fees": format_money(self.fees, self.currency, locale),
            "total": format_money(self.total, self.currency, locale),
            "due_date": format_long_date(self.due_date, locale),
            "days_past_due": str(max(self.days_past_due, 0)),
        }


def open_accounts(session: Session, debtor_id: int) -> list[Account]:
    return list(session.scalars(
        select(Account).options(selectinload(Account.creditor))
        .where(Account.debtor_id == debtor_id, Account.status == AccountStatus.ACTIVE)
        .order_by(Account.due_date, Account.id)))


def account_balances(session: Session, debtor: Debtor, today: date) -> list[AccountBalance]:
    return [
        AccountBalance(
            account_id=account.id, creditor=account.creditor.name, product=account.product,
            account_ref=account.external_id[-4:], currency=account.currency, principal=account.principal,
            interest=account.interest, fees=account.fees, total=account.total, due_date=account.due_date,
            days_past_due=account.days_past_due(today), stage=account.stage(today),
        )
        for account in open_accounts(session, debtor.id)
    ]


def debtor_locale(debtor: Debtor) -> str:
    return locale_for_country(debtor.country)


def next_installment(session: Session, account: Account) -> Installment | None:
    """The first unpaid installment of the account's open plan."""
    return session.scalars(
        select(Installment).join(PaymentPlan)
        .where(PaymentPlan.account_id == account.id, PaymentPlan.status == AgreementStatus.PENDING,
               Installment.status == AgreementStatus.PENDING)
        .order_by(PaymentPlan.id.desc(), Installment.number).limit(1)).first()
