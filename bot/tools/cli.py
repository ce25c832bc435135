"""`acuerdo …`: operator commands (import a portfolio, seed the demo, manage agent-API users, migrate)."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from bot.common import config
from bot.common.settings import exit_if_unsafe
from bot.ledger.db import migrate, session_scope
from bot.ledger.models import Role


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


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _read_password(from_stdin: bool) -> str | None:
    """The new password: one line of stdin (for scripts), or typed twice at a hidden prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    password = getpass.getpass("Password: ")
    return password if getpass.getpass("Repeat password: ") == password else None


def _create_user(args: argparse.Namespace) -> int:
    from bot.agents.users import UserError, create_user

    password = _read_password(args.password_stdin)
    if password is None:
        return _error("the passwords do not match")
    try:
        with session_scope() as session:
            user = create_user(session, args.email, password, args.role, args.creditor or [],
                               all_creditors=args.all_creditors, now=datetime.now(UTC))
            scope = "all creditors" if user.all_creditors else ", ".join(c.code for c in user.creditors)
            done = f"created {user.role} {user.email} ({scope})"
    except UserError as exc:
        return _error(str(exc))
    print(done)
    return 0


def _list_users(args: argparse.Namespace) -> int:
    from bot.agents.users import list_users

    with session_scope() as session:
        rows = [(user.email, str(user.role), "disabled" if user.disabled_at else "active",
                 "all" if user.all_creditors else ",".join(c.code for c in user.creditors))
                for user in list_users(session)]
    if not rows:
        print("no users", file=sys.stderr)
    width = max((len(row[0]) for row in rows), default=0)
    for email, role, status, creditors in rows:
        print(f"{email:<{width}}  {role:<10}  {status:<8}  {creditors}")
    return 0


def _disable_user(args: argparse.Namespace) -> int:
    from bot.agents.users import UserError, disable_user

    try:
        with session_scope() as session:
            user = disable_user(session, args.email, datetime.now(UTC))
            done = f"disabled {user.email} (since {user.disabled_at:%Y-%m-%d %H:%M} UTC); its tokens no longer work"
    except UserError as exc:
        return _error(str(exc))
    print(done)
    return 0


def _parse_moment(raw: str | None) -> datetime:
    at = datetime.fromisoformat(raw) if raw else datetime.now(UTC)
    if at.tzinfo is None:
        raise ValueError("needs a UTC offset, e.g. 2026-12-01T18:59:00-05:00")
    return at


def _contact_check(args: argparse.Namespace) -> int:
    import json

    from bot.messaging.contact_rules import contact_decision

    try:
        at = _parse_moment(args.at)
    except ValueError as exc:
        return _error(f"--at {args.at!r}: {exc}")
    creditor = None
    if args.creditor:
        creditor = config.creditors().get(args.creditor)
        if creditor is None:
            return _error(f"--creditor: unknown creditor {args.creditor!r} (config/creditors.yml)")
    if args.debtor_id:
        with session_scope() as session:
            answer = _debtor_contact_check(session, args, at)
        if answer is None:
            return _error(f"--debtor-id: no debtor {args.debtor_id!r} with an account"
                          + (f" of {args.creditor}" if args.creditor else ""))
        print(json.dumps(answer, ensure_ascii=False))
        return 0
    decision = contact_decision(args.country, at, args.timezone, creditor=creditor, channel=args.channel)
    print(json.dumps(decision.as_json(), ensure_ascii=False))
    return 0


def _debtor_contact_check(session: Session, args: argparse.Namespace, at: datetime) -> dict[str, str | None] | None:
    """The decision for a real debtor: their history, opt-outs, wrong numbers, accounts and caps count too."""
    from sqlalchemy import select

    from bot.ledger.models import Account, Creditor, Debtor
    from bot.messaging.compliance import outreach_decision

    query = select(Account).join(Debtor).where(Debtor.external_id == args.debtor_id).order_by(Account.id)
    if args.creditor:
        query = query.join(Creditor).where(Creditor.code == args.creditor)
    account = session.scalars(query.limit(1)).first()
    if account is None or not account.debtor.phones:
        return None
    phone = sorted(account.debtor.phones, key=lambda p: (p.wrong_number, not p.verified))[0]
    return outreach_decision(session, account, phone.e164, args.channel, at).as_json()


def _campaign(args: argparse.Namespace) -> int:
    from bot.campaigns.cadences import campaigns
    from bot.campaigns.planner import preview

    known = campaigns()
    if args.name not in known:
        return _error(f"no campaign {args.name!r} in config/campaigns.yml (known: {', '.join(sorted(known))})")
    try:
        now = _parse_moment(args.at)
    except ValueError as exc:
        return _error(f"--at {args.at!r}: {exc}")
    with session_scope() as session:
        print(preview(session, known[args.name], now).summary())
    if args.action == "preview":
        return 0
    if args.runner is None:
        return _error("campaign run needs the task queue: use the `acuerdo` command (api.cli)")
    return int(args.runner(args.name, now, wait=not args.no_wait, progress=not args.quiet))


def _export_training_data(args: argparse.Namespace) -> int:
    from bot.admin.tuning import training_data

    for path in training_data().export(Path(args.out)):
        print(path)
    return 0


def _model(args: argparse.Namespace) -> int:
    from bot.admin.rasa_model import list_models

    models = list_models()
    if not models:
        print("no models yet: `make model` trains one")
        return 1
    for info in models:
        seconds = f"{info.training_seconds:.0f} s" if info.training_seconds is not None else "trained elsewhere"
        print(f"{'*' if info.active else ' '} {info.name}  {info.trained_at:%Y-%m-%d %H:%M} UTC  "
              f"{info.size_bytes / 1e6:.0f} MB  {seconds}")
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

    creator = commands.add_parser("create-user", help="add a person who signs in to the agent API")
    creator.add_argument("email")
    creator.add_argument("--role", required=True, choices=[role.value for role in Role])
    creator.add_argument("--creditor", action="append", metavar="CODE",
                         help="a creditor code they work for (repeatable; an admin needs none)")
    creator.add_argument("--all-creditors", action="store_true", help="every creditor, present and future")
    creator.add_argument("--password-stdin", action="store_true",
                         help="read the password from the first line of stdin instead of prompting")
    creator.set_defaults(handler=_create_user)
    commands.add_parser("list-users", help="list people: role, active or disabled, creditors") \
        .set_defaults(handler=_list_users)
    disabler = commands.add_parser("disable-user", help="end a person's access at once (sign-in and tokens)")
    disabler.add_argument("email")
    disabler.set_defaults(handler=_disable_user)
    commands.add_parser("migrate", help="apply database migrations").set_defaults(handler=lambda _: 0)
    checker = commands.add_parser("contact-check", help="may an automated message reach a debtor now? (JSON)")
    checker.add_argument("--country", required=True, choices=sorted(config.countries()))
    checker.add_argument("--channel", required=True, choices=["sms", "whatsapp"])
    checker.add_argument("--at", help="ISO 8601 moment with its offset (default: now)")
    checker.add_argument("--timezone", help="the debtor's IANA time zone (default: the country's)")
    checker.add_argument("--creditor", help="a creditor code: its own, stricter rules count too")
    checker.add_argument("--debtor-id", help="a debtor's portfolio id: their history, opt-outs, accounts and caps "
                         "count too (country and time zone are theirs)")
    checker.set_defaults(handler=_contact_check)
    exporter = commands.add_parser("export-training-data",
                                   help="write the NLU training files and the domain, as the admin pages keep them")
    exporter.add_argument("out", help="a folder: data/nlu/*.yml and domain.yml are written under it")
    exporter.set_defaults(handler=_export_training_data)
    campaign = commands.add_parser("campaign", help="preview or run a reminder campaign (config/campaigns.yml)")
    campaign.add_argument("action", choices=["preview", "run"])
    campaign.add_argument("name")
    campaign.add_argument("--at", help="ISO 8601 moment to plan for (default: now)")
    campaign.add_argument("--no-wait", action="store_true", help="run: enqueue for the workers and return")
    campaign.add_argument("--quiet", action="store_true", help="run: no progress bar")
    campaign.set_defaults(handler=_campaign)
    model = commands.add_parser("model", help="the trained models kept in models/ (* marks the active one)")
    model.add_argument("action", choices=["list"])
    model.set_defaults(handler=_model)
    return parser


CampaignRunner = Callable[..., int]  # (name, now, *, wait, progress) -> exit code; the queue lives in api.tasks


def main(argv: list[str] | None = None, campaign_runner: CampaignRunner | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.runner = campaign_runner
    exit_if_unsafe("acuerdo")
    migrate()
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
