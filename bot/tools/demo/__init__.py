"""The built-in demo portfolio: one or two debtors in each of Mexico, Colombia, Argentina, Chile and Peru."""
from __future__ import annotations

import csv
import secrets
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from bot.agents.users import create_user, hash_password
from bot.common.copy import render
from bot.ledger.balances import account_balances, debtor_locale
from bot.ledger.models import Debtor, Phone, Role, User
from bot.ledger.portfolio import ImportReport, import_portfolio_file

DEMO_PORTFOLIO = Path(__file__).resolve().parent / "portfolio.csv"
DEMO_STRANGER = "+525599990000"  # "a number nobody has": how the bot treats a stranger, on the demo


def seed_demo(session: Session) -> ImportReport:
    """Load (or refresh) the demo portfolio, marked as demo data; safe to run again."""
    report = import_portfolio_file(session, DEMO_PORTFOLIO)
    with DEMO_PORTFOLIO.open(encoding="utf-8-sig", newline="") as stream:
        mark_demo(session, [row["debtor_id"] for row in csv.DictReader(stream)])
    return report


DEMO_AGENT = "agente@demo.local"


def demo_agent(session: Session, now: datetime) -> str:
    """The demo's agent, with a fresh password each start (returned to print): one person can play the debtor
    in one tab and the agent in another. Refused in production like the rest of the demo."""
    password = secrets.token_urlsafe(12)
    user = session.scalars(select(User).where(User.email == DEMO_AGENT)).one_or_none()
    if user is None:
        create_user(session, DEMO_AGENT, password, Role.AGENT, [], all_creditors=True, now=now, actor="demo")
    else:
        user.password_hash, user.disabled_at = hash_password(password), None
    return password


def mark_demo(session: Session, external_ids: list[str]) -> None:
    """Only debtors marked here are listed or played by the demo; a real portfolio is never marked."""
    session.execute(update(Debtor).where(Debtor.external_id.in_(external_ids)).values(is_demo=True))
    session.flush()


def demo_debtors(session: Session, limit: int = 20) -> list[Debtor]:
    """The debtors a demo offers to play: the demo portfolio only, whatever else the database holds."""
    return list(session.scalars(select(Debtor).where(Debtor.is_demo.is_(True)).options(selectinload(Debtor.phones))
                                .order_by(Debtor.external_id).limit(limit)))


def is_demo_number(session: Session, e164: str) -> bool:
    """The demo accepts only its own debtors' numbers and the stranger's: nobody can write as a real debtor.

    The demo channel never sees real debtors either (bot.identity.verification looks up only demo debtors there), so a
    demo number that a real debtor also has reaches only the demo debtor.
    """
    if e164 == DEMO_STRANGER:
        return True
    demo_phone = (select(Phone.id).join(Debtor, Phone.debtor_id == Debtor.id)
                  .where(Phone.e164 == e164, Debtor.is_demo.is_(True)).limit(1))
    return session.scalar(demo_phone) is not None


def balance_messages(session: Session, debtor: Debtor, today: date) -> list[str]:
    """The balance as the bot tells it after verification: one message per account."""
    locale = debtor_locale(debtor)
    return [render(balance.response, **balance.formatted(locale))
            for balance in account_balances(session, debtor, today)]
