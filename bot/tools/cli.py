"""`acuerdo …`: operator commands (import a portfolio, seed the demo, migrate)."""
from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from bot.common.settings import exit_if_unsafe
from bot.ledger.db import migrate, session_scope


def _import_portfolio(args: argparse.Namespace) -> int:
    from bot.ledger.portfolio import PortfolioFormatError, import_portfolio_file

    path = Path(args.file)
    if not path.is_file():
        print(f"error: {path} is not a file", file=sys.stderr)
        return 2
    try:
        with session_scope() as session:
            report = import_portfolio_file(session, path, mark_missing_recalled=args.mark_missing_recalled,
                                           show_progress=not args.quiet and sys.stderr.isatty())
    except PortfolioFormatError as exc:
        print(f"error: {path}: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    for error in report.errors[: args.max_errors]:
        print(f"  {error}", file=sys.stderr)
    if len(report.errors) > args.max_errors:
        print(f"  … and {len(report.errors) - args.max_errors} more", file=sys.stderr)
    return 1 if report.errors and not report.rows_loaded else 0


def _seed_demo(args: argparse.Namespace) -> int:
    from bot.tools.demo import seed_demo

    with session_scope() as session:
        print(seed_demo(session).summary())
    return 0


def _show_demo(args: argparse.Namespace) -> int:
    from bot.tools.demo import balance_messages, demo_debtors

    today = date.fromisoformat(args.today) if args.today else date.today()
    with session_scope() as session:
        for debtor in demo_debtors(session):
            phones = ", ".join(phone.e164 for phone in debtor.phones)
            print(f"\n== {debtor.full_name} ({debtor.country}, {phones})")
            for message in balance_messages(session, debtor, today):
                print(message)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acuerdo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    importer = commands.add_parser("import-portfolio", help="load a creditor's portfolio CSV")
    importer.add_argument("file")
    importer.add_argument("--mark-missing-recalled", action="store_true",
                          help="a full import: accounts of the file's creditors missing from it become recalled")
    importer.add_argument("--quiet", action="store_true", help="no progress bar")
    importer.add_argument("--max-errors", type=int, default=50, help="rejected rows to list (default 50)")
    importer.set_defaults(handler=_import_portfolio)

    commands.add_parser("seed-demo", help="load the built-in demo portfolio").set_defaults(handler=_seed_demo)
    shower = commands.add_parser("show-demo", help="print each demo debtor's balance as the bot tells it")
    shower.add_argument("--today", help="ISO date to count days past due from (default: today)")
    shower.set_defaults(handler=_show_demo)
    commands.add_parser("migrate", help="apply database migrations").set_defaults(handler=lambda _: 0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    exit_if_unsafe("acuerdo")
    migrate()
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
