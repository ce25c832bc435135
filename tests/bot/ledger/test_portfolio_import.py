from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.ledger.models import Account, AccountStatus, AuditLog, Creditor, Debtor, Phone
from bot.ledger.portfolio import PortfolioFormatError, import_portfolio_file, import_portfolio_text

HEADER = ("debtor_id,full_name,phone,document_id,birth_date,country,account_id,creditor,product,currency,"
          "principal,interest,fees,due_date,segment")
MX_ROW = "D1,Ana Ruiz,55 1234 5678,5544332211,1985-03-12,MX,A-1,banco-aurora,Tarjeta,MXN,1000.50,20.25,5,2026-10-01,A"
CL_ROW = "D2,Pedro Soto,9 8765 4321,12.345.678-5,,CL,A-2,finanzas-norte,Consumo,CLP,150000,2000,0,2026-09-01,"


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_good_rows_load_with_decimal_money_and_e164_phones(session: Session) -> None:
    report = import_portfolio_text(session, csv_text(MX_ROW, CL_ROW))
    assert report.errors == []
    assert (report.rows_read, report.rows_loaded, report.accounts_created, report.debtors_created) == (2, 2, 2, 2)
    ana = session.scalars(select(Debtor).where(Debtor.external_id == "D1")).one()
    assert ana.full_name == "Ana Ruiz" and ana.country == "MX" and ana.birth_date == date(1985, 3, 12)
    assert [phone.e164 for phone in ana.phones] == ["+525512345678"]
    account = ana.accounts[0]
    assert account.principal == Decimal("1000.50") and isinstance(account.principal, Decimal)
    assert account.total == Decimal("1025.75")
    assert account.creditor.name == "Banco Aurora"  # from config/creditors.yml
    assert account.status is AccountStatus.ACTIVE and account.segment == "A"
    pedro = session.scalars(select(Debtor).where(Debtor.external_id == "D2")).one()
    assert pedro.birth_date is None and pedro.accounts[0].segment is None
    assert session.scalars(select(AuditLog.action)).all() == ["portfolio_imported"]


def test_one_debtor_with_several_accounts_and_extra_columns(session: Session) -> None:
    header = HEADER + ",email,timezone,authorized_channels,branch"
    rows = [MX_ROW + ",ana@example.com,America/Mexico_City,whatsapp|sms,Centro",
            MX_ROW.replace("A-1", "A-9").replace("Tarjeta", "Préstamo") + ",,,,Norte"]
    report = import_portfolio_text(session, csv_text(*rows, header=header))
    assert report.errors == [] and report.accounts_created == 2 and report.debtors_created == 1
    ana = session.scalars(select(Debtor)).one()
    assert [a.product for a in ana.accounts] == ["Tarjeta", "Préstamo"]
    assert ana.email == "ana@example.com" and ana.authorized_channels == "whatsapp|sms"
    assert ana.extra == {"branch": "Centro"}
    assert count(session, Phone) == 1


@pytest.mark.parametrize(("bad_row", "reason"), [
    (MX_ROW.replace("D1,", ",", 1), "debtor_id is empty"),
    (MX_ROW.replace("Ana Ruiz", ""), "full_name is empty"),
    (MX_ROW.replace("55 1234 5678", "123"), "not a valid MX phone number"),
    (MX_ROW.replace("55 1234 5678", ""), "empty phone number"),
    (MX_ROW.replace(",MX,", ",BR,"), "country 'BR' is not configured"),
    (MX_ROW.replace("MXN", "XYZ"), "currency 'XYZ' is not an ISO 4217 code"),
    (MX_ROW.replace("1000.50", '"1,000.50"'), "principal '1,000.50' is not an amount"),
    (MX_ROW.replace("1000.50", "-10"), "principal '-10' is not an amount"),
    (MX_ROW.replace("1000.50", "abc"), "principal 'abc' is not an amount"),
    (MX_ROW.replace("1000.50", "10.505"), "has more decimals than MXN allows"),
    (CL_ROW.replace("150000", "150000.50"), "has more decimals than CLP allows"),
    (MX_ROW.replace("2026-10-01", "01/10/2026"), "due_date '01/10/2026' is not an ISO date"),
    (MX_ROW.replace("2026-10-01", "2026-02-30"), "is not an ISO date"),
    (MX_ROW.replace("2026-10-01", ""), "due_date is empty"),
    (MX_ROW.replace("1985-03-12", "1785-03-12"), "birth_date '1785-03-12' is out of range"),
    (MX_ROW.replace("1000.50,20.25,5", "0,0,0"), "owes nothing"),
    (MX_ROW + ",surplus", "more fields than the header"),
])
def test_each_kind_of_bad_row_is_reported_and_good_rows_still_load(session: Session, bad_row: str,
                                                                   reason: str) -> None:
    report = import_portfolio_text(session, csv_text(CL_ROW, bad_row))
    assert report.rows_read == 2 and report.rows_loaded == 1
    assert len(report.errors) == 1
    assert report.errors[0].line == 3
    assert reason in report.errors[0].reason
    assert count(session, Account) == 1
    assert session.scalars(select(Account.external_id)).one() == "A-2"


def test_duplicate_account_and_conflicting_debtor_in_one_file(session: Session) -> None:
    conflicting = MX_ROW.replace("A-1", "A-3").replace("5544332211", "999")
    report = import_portfolio_text(session, csv_text(MX_ROW, MX_ROW, conflicting))
    assert [(e.line, e.reason) for e in report.errors] == [
        (3, "account A-1 of banco-aurora is already on line 2"),
        (4, "debtor D1 has a different document_id or country than on line 2"),
    ]
    assert count(session, Account) == 1


def test_missing_columns_reject_the_whole_file(session: Session) -> None:
    with pytest.raises(PortfolioFormatError, match="missing columns: currency, principal"):
        import_portfolio_text(session, csv_text(header=HEADER.replace(",currency,principal", "")))


def test_reimport_updates_instead_of_duplicating(session: Session) -> None:
    import_portfolio_text(session, csv_text(MX_ROW, CL_ROW))
    changed = MX_ROW.replace("1000.50", "900.00").replace("Ana Ruiz", "Ana María Ruiz").replace(
        "55 1234 5678", "33 2345 6789")
    report = import_portfolio_text(session, csv_text(changed, CL_ROW))
    assert (report.accounts_created, report.accounts_updated) == (0, 2)
    assert (report.debtors_created, report.debtors_updated, report.phones_added) == (0, 2, 1)
    assert count(session, Account) == 2 and count(session, Debtor) == 2
    session.expire_all()
    ana = session.scalars(select(Debtor).where(Debtor.external_id == "D1")).one()
    assert ana.full_name == "Ana María Ruiz"
    assert ana.accounts[0].principal == Decimal("900.00")
    assert sorted(phone.e164 for phone in ana.phones) == ["+523323456789", "+525512345678"]


def test_full_import_marks_missing_accounts_recalled_and_brings_them_back(session: Session) -> None:
    other = MX_ROW.replace("A-1", "A-7")
    import_portfolio_text(session, csv_text(MX_ROW, other, CL_ROW))

    partial = import_portfolio_text(session, csv_text(MX_ROW))
    assert partial.accounts_recalled == 0  # without the flag nothing is recalled

    full = import_portfolio_text(session, csv_text(MX_ROW), mark_missing_recalled=True)
    assert full.accounts_recalled == 1  # A-7 only: A-2 belongs to another creditor
    session.expire_all()
    statuses = dict(session.execute(select(Account.external_id, Account.status)).all())
    assert statuses == {"A-1": AccountStatus.ACTIVE, "A-7": AccountStatus.RECALLED, "A-2": AccountStatus.ACTIVE}

    import_portfolio_text(session, csv_text(MX_ROW, other))
    session.expire_all()
    assert session.scalars(select(Account.status).where(Account.external_id == "A-7")).one() is AccountStatus.ACTIVE


def test_unknown_creditor_is_created_with_its_code(session: Session) -> None:
    import_portfolio_text(session, csv_text(MX_ROW.replace("banco-aurora", "nueva-financiera")))
    assert session.scalars(select(Creditor.name)).one() == "nueva-financiera"


def test_file_with_byte_order_mark_quoted_fields_and_windows_newlines(session: Session, tmp_path: Path) -> None:
    quoted = MX_ROW.replace("Ana Ruiz", '"Ruiz, Ana"')
    path = tmp_path / "cartera.csv"
    path.write_bytes(("\ufeff" + csv_text(quoted, CL_ROW)).replace("\n", "\r\n").encode("utf-8"))
    report = import_portfolio_file(session, path)
    assert report.errors == [] and report.rows_loaded == 2
    assert sorted(session.scalars(select(Debtor.full_name))) == ["Pedro Soto", "Ruiz, Ana"]
