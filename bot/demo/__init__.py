"""The built-in demo portfolio: one or two debtors in each of Mexico, Colombia, Argentina, Chile and Peru."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.balances import account_balances, debtor_locale
from bot.copy import render
from bot.portfolio import ImportReport, import_portfolio_file
from bot.storage.models import Debtor

DEMO_PORTFOLIO = Path(__file__).resolve().parent / "portfolio.csv"


def seed_demo(session: Session) -> ImportReport:
    """Load (or refresh) the demo portfolio; safe to run again."""
    return import_portfolio_file(session, DEMO_PORTFOLIO)


def demo_debtors(session: Session, limit: int = 20) -> list[Debtor]:
    """The debtors a demo offers to play (the demo database holds only the demo portfolio)."""
    return list(session.scalars(select(Debtor).options(selectinload(Debtor.phones))
                                .order_by(Debtor.external_id).limit(limit)))


def balance_messages(session: Session, debtor: Debtor, today: date) -> list[str]:
    """The balance as the bot tells it after verification: one message per account."""
    locale = debtor_locale(debtor)
    return [render(balance.response, **balance.formatted(locale))
            for balance in account_balances(session, debtor, today)]
