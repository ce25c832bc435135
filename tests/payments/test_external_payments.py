"""Payments received outside Acuerdo (bank transfers, cash at a branch), imported from a creditor's CSV: bad rows
are reported with their line and a reason and change nothing; good ones are applied like any payment (fees,
interest, principal; promises kept; accounts paid off) so the reminders stop; a second import of the same file
applies nothing twice. Admins import from the API; nobody else."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.main import create_app
from bot.agents.users import create_user, issue_token
from bot.campaigns.cadences import campaign
from bot.campaigns.planner import due_jobs, local_day
from bot.ledger.db import session_scope
from bot.ledger.models import Account, AccountStatus, AgreementStatus, AuditLog, Payment, PromiseToPay, Role
from bot.ledger.portfolio import PortfolioFormatError
from bot.payments.external import import_payments_text
from bot.tools.cli import main as cli

HEADER = "creditor,account_id,amount,currency,paid_at,method,reference\n"
NOW = datetime.now(UTC)
YESTERDAY = (NOW - timedelta(days=1)).date().isoformat()


def account(session: Session, external_id: str) -> Account:
    return session.scalars(select(Account).where(Account.external_id == external_id)).one()


def test_bad_rows_are_reported_with_their_line_and_change_nothing(ledger: Session) -> None:
    rows = [
        f"banco-aurora,A-90001,100.00,MXN,{YESTERDAY},transfer,TRX-1",  # line 2: good
        f"banco-nadie,A-90001,100.00,MXN,{YESTERDAY},transfer,TRX-2",
        f"banco-aurora,A-00000,100.00,MXN,{YESTERDAY},transfer,TRX-3",
        f"banco-aurora,A-90001,100.00,CLP,{YESTERDAY},transfer,TRX-4",
        f"banco-aurora,A-90001,0,MXN,{YESTERDAY},transfer,TRX-5",
        f"banco-aurora,A-90001,cien,MXN,{YESTERDAY},transfer,TRX-6",
        f"finanzas-norte,F-30021,100.50,CLP,{YESTERDAY},cash,TRX-7",
        f"banco-aurora,A-90001,100.00,MXN,{(NOW + timedelta(days=3)).date()},transfer,TRX-8",
        "banco-aurora,A-90001,100.00,MXN,2026-11-20T10:00:00,transfer,TRX-9",
        f"banco-aurora,A-90001,100.00,MXN,{YESTERDAY},cheque,TRX-10",
        f"banco-aurora,A-90001,100.00,MXN,{YESTERDAY},transfer,",
        f"banco-aurora,A-90001,100.00,MXN,{YESTERDAY},cash,TRX-1",
        f"banco-aurora,A-90001,100.00,MXN,{YESTERDAY},cash,TRX-13,extra",
        "banco-aurora,A-90001,100.00,MXN,ayer,cash,TRX-14",
    ]
    report = import_payments_text(ledger, HEADER + "\n".join(rows) + "\n", NOW)
    reasons = {error.line: error.reason for error in report.errors}
    assert reasons == {
        3: "creditor 'banco-nadie' is unknown",
        4: "account A-00000 of banco-aurora is not in the portfolio",
        5: "currency CLP is not the account's (MXN)",
        6: "amount must be more than 0",
        7: "amount 'cien' is not an amount (digits with an optional dot decimal)",
        8: "amount '100.50' has more decimals than CLP allows (0)",
        9: f"paid_at '{(NOW + timedelta(days=3)).date()}' is in the future",
        10: "paid_at '2026-11-20T10:00:00' needs its UTC offset (e.g. 2026-11-20T15:30:00-05:00)",
        11: "method 'cheque' is not one of transfer, cash, deposit, card, other",
        12: "reference is empty",
        13: "reference TRX-1 is already on line 2",
        14: "more fields than the header has columns",
        15: "paid_at 'ayer' is not a date (YYYY-MM-DD) or an ISO time",
    }
    assert (report.rows_read, report.applied) == (14, 1)
    assert ledger.scalars(select(Payment.provider_ref)).all() == ["external:banco-aurora:TRX-1"]
    with pytest.raises(PortfolioFormatError, match="missing columns: reference"):
        import_payments_text(ledger, "creditor,account_id,amount,currency,paid_at,method\n", NOW)


def test_payments_are_applied_like_any_other_once_and_the_reminders_stop(ledger: Session) -> None:
    ana, camila = account(ledger, "A-90001"), account(ledger, "F-30021")
    promised = local_day("MX", NOW) + timedelta(days=1)
    ledger.add(PromiseToPay(account_id=ana.id, promised_date=promised, amount=Decimal("1000.00"), currency="MXN",
                            created_by="bot"))
    ledger.commit()
    reminded = {job.account_id for job in due_jobs(ledger, campaign("agreements"), NOW)}
    assert ana.id in reminded  # "mañana es tu fecha de pago"

    csv_text = HEADER + (f"banco-aurora,A-90001,1000.00,MXN,{YESTERDAY},transfer,BBVA-778812\n"
                         f"finanzas-norte,F-30021,1449500,CLP,{YESTERDAY}T16:05:00-03:00,cash,SUC-12-0091\n")
    report = import_payments_text(ledger, csv_text, NOW, actor="user:1")
    assert (report.applied, report.already_imported, report.accounts_settled, report.errors) == (2, 0, 1, [])
    assert dict(report.totals) == {"MXN": Decimal("1000.00"), "CLP": Decimal("1449500")}
    assert "2 payments applied (1449500 CLP, 1000.00 MXN)" in report.summary()
    ledger.commit()

    ledger.refresh(ana)
    assert (ana.fees, ana.interest, ana.principal) == (Decimal("0.00"), Decimal("1180.55"), Decimal("12500.00"))
    assert ana.total == Decimal("13680.55") and ana.status is AccountStatus.ACTIVE
    ledger.refresh(camila)
    assert camila.total == 0 and camila.status is AccountStatus.PAID
    promise = ledger.scalars(select(PromiseToPay).where(PromiseToPay.account_id == ana.id)).one()
    assert promise.status is AgreementStatus.KEPT
    assert ana.id not in {job.account_id for job in due_jobs(ledger, campaign("agreements"), NOW)}
    payment = ledger.scalars(select(Payment).where(Payment.account_id == camila.id)).one()
    assert (payment.provider, payment.provider_ref) == ("external_cash", "external:finanzas-norte:SUC-12-0091")
    assert payment.paid_at == datetime(*[int(x) for x in YESTERDAY.split("-")], 19, 5, tzinfo=UTC)

    again = import_payments_text(ledger, csv_text, NOW)
    assert (again.applied, again.already_imported) == (0, 2)
    ledger.refresh(ana)
    assert ana.total == Decimal("13680.55")
    audit = ledger.scalars(select(AuditLog).where(AuditLog.action == "external_payments_imported")).all()
    assert [entry.details["applied"] for entry in audit] == [2, 0] and audit[0].actor == "user:1"


def test_only_admins_import_payments(ledger: Session, stripe_env: pytest.MonkeyPatch) -> None:
    now = datetime.now(UTC)
    tokens = {}
    for role in (Role.SUPERVISOR, Role.ADMIN):
        user = create_user(ledger, f"{role.value}-pay@acuerdo.example", "una clave larga de prueba", role, [],
                           all_creditors=True, now=now)
        tokens[role], _ = issue_token(ledger, user, address="127.0.0.1", now=now)
    ledger.commit()
    body = HEADER + f"banco-aurora,A-90001,500.00,MXN,{YESTERDAY},deposit,OXXO-1\nbanco-aurora,A-1,5,MXN,x,cash,\n"
    with TestClient(create_app()) as client:
        def upload(role: Role | None) -> object:
            headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
            return client.post("/api/admin/payments/import", files={"file": ("pagos.csv", body, "text/csv")},
                               headers=headers)

        assert upload(None).status_code == 401  # type: ignore[attr-defined]
        assert upload(Role.SUPERVISOR).status_code == 403  # type: ignore[attr-defined]
        response = upload(Role.ADMIN)
        assert response.status_code == 200, response.text  # type: ignore[attr-defined]
        answer = response.json()  # type: ignore[attr-defined]
        assert answer["applied"] == 1 and answer["errors"] == [
            {"line": 3, "reason": "account A-1 of banco-aurora is not in the portfolio"}]
        bad = client.post("/api/admin/payments/import", files={"file": ("pagos.csv", "a,b\n1,2\n", "text/csv")},
                          headers={"Authorization": f"Bearer {tokens[Role.ADMIN]}"})
        assert bad.status_code == 422 and "missing columns" in bad.json()["detail"]


def test_the_command_line_imports_a_file_and_lists_what_it_rejected(ledger: Session, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "pagos.csv"
    path.write_text("\ufeff" + HEADER + f"banco-aurora,A-90001,250.00,MXN,{YESTERDAY},cash,CAJA-7\n"
                    "banco-aurora,A-90001,-5,MXN,2026-11-01,cash,CAJA-8\n", encoding="utf-8")
    assert cli(["import-payments", str(path)]) == 0
    captured = capsys.readouterr()
    assert "2 rows read, 1 payments applied (250.00 MXN), 0 already imported, 1 rejected" in captured.out
    assert "line 3: amount '-5' is not an amount" in captured.err
    assert cli(["import-payments", str(path)]) == 0 and "1 already imported" in capsys.readouterr().out
    assert cli(["import-payments", str(tmp_path)]) == 2


@pytest.mark.e2e
def test_the_bot_tells_the_balance_after_a_payment_made_at_a_branch(chat, ledger_url: str) -> None:  # type: ignore[no-untyped-def]
    olga = chat("whatsapp:+525517170000")  # E-MX-17 in the e2e portfolio
    olga.say("hola")
    assert "Ya confirmé tu identidad" in olga.say("7171")[0]
    assert "Total: $3,000.00" in "\n".join(olga.say("cuánto debo?"))
    with session_scope(ledger_url) as session:
        report = import_payments_text(session, HEADER + f"banco-aurora,AUR-17171,1200.00,MXN,{YESTERDAY},cash,"
                                      "SUC-0042-889\n", datetime.now(UTC))
    assert report.applied == 1
    assert "Total: $1,800.00" in "\n".join(olga.say("y ahora cuanto debo?"))


def test_a_reference_imported_before_for_another_payment_is_reported_not_skipped(ledger: Session) -> None:
    first = HEADER + f"banco-aurora,A-90001,300.00,MXN,{YESTERDAY},transfer,REF-1\n"
    assert import_payments_text(ledger, first, NOW).applied == 1
    again = HEADER + (f"banco-aurora,A-90001,300.00,MXN,{YESTERDAY},transfer,REF-1\n"  # the same: skipped
                      f"banco-aurora,A-90001,350.00,MXN,{YESTERDAY},transfer,REF-1x\n"
                      f"banco-aurora,A-90001,999.00,MXN,{YESTERDAY},transfer,{'R' * 181}\n")
    report = import_payments_text(ledger, again, NOW)
    assert (report.applied, report.already_imported) == (1, 1)
    assert [str(error) for error in report.errors] == ["line 4: reference is longer than 180 characters"]
    clash = import_payments_text(ledger, HEADER + f"banco-aurora,A-90001,999.00,MXN,{YESTERDAY},cash,REF-1\n", NOW)
    assert [str(error) for error in clash.errors] == [
        "line 2: reference REF-1 was imported before for another account or amount"]
    assert clash.applied == 0 and account(ledger, "A-90001").total == Decimal("14680.55") - Decimal("650.00")
