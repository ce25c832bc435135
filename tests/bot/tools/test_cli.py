from pathlib import Path

import pytest

from bot.tools.cli import main

HEADER = ("debtor_id,full_name,phone,document_id,birth_date,country,account_id,creditor,product,currency,"
          "principal,interest,fees,due_date,segment")


def test_import_reports_summary_and_bad_lines(database_url: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cartera.csv"
    path.write_text("\n".join([
        HEADER,
        "D1,Ana Ruiz,55 1234 5678,5544332211,1985-03-12,MX,A-1,banco-aurora,Tarjeta,MXN,1000,0,0,2026-10-01,",
        "D2,Beto Paz,55 1234,5544332212,1985-03-12,MX,A-2,banco-aurora,Tarjeta,MXN,1000,0,0,2026-10-01,",
    ]) + "\n", encoding="utf-8")
    assert main(["import-portfolio", str(path), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "2 rows read, 1 loaded, 1 rejected" in out
    assert "line 3: not a valid MX phone number: '55 1234'" in err


def test_import_of_a_file_without_the_columns_fails_clearly(database_url: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "otra.csv"
    path.write_text("nombre,telefono\nAna,5512345678\n", encoding="utf-8")
    assert main(["import-portfolio", str(path)]) == 2
    assert "missing columns: debtor_id, full_name" in capsys.readouterr().err
    assert main(["import-portfolio", str(tmp_path / "nope.csv")]) == 2


def test_demo_balances_are_told_in_each_locale(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed-demo"]) == 0
    assert main(["seed-demo"]) == 0  # idempotent
    capsys.readouterr()
    assert main(["show-demo", "--today", "2026-11-26"]) == 0
    out = capsys.readouterr().out
    assert out.count("== ") == 6
    assert "Total: $14,680.55\nVenció el 12 de octubre de 2026 (45 días de atraso)." in out  # es_MX
    assert "Total: $1.449.500\nVenció el 30 de junio de 2026 (149 días de atraso)." in out  # CLP
    assert "Total: $986.750,00" in out  # es_AR
    assert "Total: S/\u00a0950.70\nVence el 5 de diciembre de 2026." in out  # es_PE, not yet due
