"""Small portfolio builders shared by tests: one CSV row per account, due dates relative to today."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

HEADER = ("debtor_id,full_name,phone,document_id,birth_date,country,account_id,creditor,product,currency,"
          "principal,interest,fees,due_date,segment")
TIMEZONES = {"MX": "America/Mexico_City", "CO": "America/Bogota", "AR": "America/Argentina/Buenos_Aires",
             "CL": "America/Santiago", "PE": "America/Lima"}


def local_today(country: str) -> date:
    return datetime.now(ZoneInfo(TIMEZONES[country])).date()


def row(debtor_id: str, name: str, phone: str, document: str, birth: str, country: str, account: str,
        creditor: str, product: str, currency: str, principal: str, interest: str, fees: str,
        days_past_due: int, segment: str = "") -> str:
    due = local_today(country) - timedelta(days=days_past_due)
    return ",".join([debtor_id, name, phone, document, birth, country, account, creditor, product, currency,
                     principal, interest, fees, due.isoformat(), segment])


def portfolio(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


MONTHS = "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split()


def spanish_long_date(day: date) -> str:
    """'15 de diciembre de 2026', written out here independently of Babel."""
    return f"{day.day} de {MONTHS[day.month - 1]} de {day.year}"


WEEKDAYS = "lunes martes miércoles jueves viernes sábado domingo".split()


def spanish_weekday_date(day: date) -> str:
    """'viernes 27 de noviembre', written out here independently of Babel."""
    return f"{WEEKDAYS[day.weekday()]} {day.day} de {MONTHS[day.month - 1]}"


def ana_and_camila() -> str:
    """Two debtors many unit tests share: Ana (MX, Banco Aurora, early) and Camila (CL, Finanzas del Norte, severe)."""
    return portfolio(
        row("D1", "Ana Ruiz", "55 1234 5678", "5544332211", "1985-03-12", "MX", "A-90001", "banco-aurora",
            "Tarjeta de crédito", "MXN", "12500.00", "1830.55", "350.00", 45),
        row("D2", "Camila Soto Fuentes", "9 8765 4321", "12.345.678-5", "1992-02-14", "CL", "F-30021",
            "finanzas-norte", "Crédito de consumo", "CLP", "1250000", "187500", "12000", 149),
    )


def due_phrase(database_url: str, account_external_id: str) -> str:
    """'Venció el … (N días de atraso).' as the bot says it now, from the due date the ledger holds.

    The shared test ledgers are seeded once per run, with due dates relative to that day; a run that
    crosses local midnight would otherwise expect yesterday's count.
    """
    from sqlalchemy import select

    from bot.ledger.db import session_scope
    from bot.ledger.models import Account

    with session_scope(database_url) as session:
        account = session.scalars(select(Account).where(Account.external_id == account_external_id)).one()
        due, country = account.due_date, account.debtor.country
    return f"Venció el {spanish_long_date(due)} ({(local_today(country) - due).days} días de atraso)."
