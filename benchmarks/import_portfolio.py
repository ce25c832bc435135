"""Portfolio import throughput: `make bench` (or `python -m benchmarks.import_portfolio --rows N`).

Generates a realistic CSV across the five demo countries, imports it into a fresh SQLite database,
then imports it again (the update path), and prints rows per second for each.
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from bot.ledger.db import migrate, reset_engines, session_scope
from bot.ledger.portfolio import REQUIRED_COLUMNS, import_portfolio_file

_PHONES = {  # local formats, as creditors send them
    "MX": lambda r: f"55 {r.randint(1000, 9999)} {r.randint(1000, 9999)}",
    "CO": lambda r: f"300 {r.randint(100, 999)} {r.randint(1000, 9999)}",
    "AR": lambda r: f"011 15-{r.randint(2000, 6999)}-{r.randint(1000, 9999)}",
    "CL": lambda r: f"9 {r.randint(8000, 8999)} {r.randint(1000, 9999)}",
    "PE": lambda r: f"9{r.randint(10, 99)} {r.randint(100, 999)} {r.randint(100, 999)}",
}
_CURRENCY = {"MX": "MXN", "CO": "COP", "AR": "ARS", "CL": "CLP", "PE": "PEN"}
_CREDITORS = ["banco-aurora", "finanzas-norte", "telco-andina"]


def write_portfolio(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        out.write(",".join(REQUIRED_COLUMNS) + "\n")
        phone = ""
        for index in range(rows):
            debtor = index // 2  # every debtor holds two accounts
            country = "MX CO AR CL PE".split()[debtor % 5]
            if index % 2 == 0:
                phone = _PHONES[country](rng)
            currency = _CURRENCY[country]
            amount = (lambda: str(rng.randint(1000, 900000))) if currency == "CLP" else (
                lambda: f"{rng.randint(100, 90000)}.{rng.randint(0, 99):02d}")
            out.write(",".join([
                f"B-{debtor}", f"Persona {debtor}", phone, f"{10000000 + debtor}",
                f"19{rng.randint(50, 99)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}", country, f"ACC-{index}",
                _CREDITORS[index % 3], "Tarjeta de crédito", currency, amount(), amount(), amount(),
                f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}", rng.choice(["A", "B", "C", ""]),
            ]) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv_path, url = Path(tmp) / "portfolio.csv", f"sqlite:///{tmp}/bench.db"
        write_portfolio(csv_path, args.rows)
        migrate(url)
        for label in ("first import (inserts)", "re-import (updates)"):
            started = time.perf_counter()
            with session_scope(url) as session:
                report = import_portfolio_file(session, csv_path)
            elapsed = time.perf_counter() - started
            assert not report.errors, report.errors[:3]
            print(f"portfolio import, {label}: {report.rows_loaded} rows in {elapsed:.1f} s "
                  f"= {report.rows_loaded / elapsed:,.0f} rows/s")
        reset_engines()


if __name__ == "__main__":
    main()
