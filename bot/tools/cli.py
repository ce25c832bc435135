"""`acuerdo …`: operator commands (import a portfolio, seed the demo, manage agent-API users, migrate, models)."""
from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sqlalchemy.orm import Session

from bot.common import config
from bot.common.settings import exit_if_unsafe
from bot.ledger.db import migrate, session_scope
from bot.ledger.models import ModelJob, Role, utcnow

if TYPE_CHECKING:
    from bot.admin.model_jobs import ModelRefused


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


def _import_payments(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import IntegrityError

    from bot.ledger.portfolio import PortfolioFormatError
    from bot.payments.external import import_payments

    path = Path(args.file)
    if not path.is_file():
        return _error(f"{path} is not a file")
    try:
        with session_scope() as session, path.open(encoding="utf-8-sig", newline="") as stream:
            report = import_payments(session, stream, datetime.now(UTC), actor="cli",
                                     provider=args.payment_provider() if args.payment_provider else None)
    except PortfolioFormatError as exc:
        return _error(f"{path}: {exc}")
    except IntegrityError:
        return _error("another import applied some of these payments at the same moment: run it again")
    print(report.summary())
    for error in report.errors[: args.max_errors]:
        print(f"  {error}", file=sys.stderr)
    if len(report.errors) > args.max_errors:
        print(f"  … and {len(report.errors) - args.max_errors} more", file=sys.stderr)
    return 1 if report.errors and not (report.applied or report.already_imported) else 0


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
    """`acuerdo model list|train|evaluate|activate|rollback`: the admin tab's jobs (bot.admin.model_jobs), run here
    unless a model worker takes them first; user_id None marks them as the command line's."""
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "list": _model_list, "train": _model_train, "evaluate": _model_evaluate, "activate": _model_activate,
        "rollback": _model_rollback}
    return handlers[args.action](args)


def _model_list(args: argparse.Namespace) -> int:
    from bot.admin import model_jobs
    from bot.admin.rasa_model import list_models
    from bot.common.settings import get_settings

    settings = get_settings()
    models = list_models(settings.models_dir)
    if not models:
        print("no models yet: `make model` or `acuerdo model train --reason …` trains one")
        return 1
    with session_scope() as session:
        current = model_jobs.live(session, settings)
        evaluations = {info.name: model_jobs.latest_evaluation(session, info.name, current.model) for info in models}
    print(f"live: {current.model or 'none recorded'} on {current.url}"
          + (f" (rollback goes back to {current.previous_model})" if current.previous_model else ""))
    for info in models:
        seconds = f"{info.training_seconds:.0f} s" if info.training_seconds is not None else "trained elsewhere"
        notes = []
        if info.name == current.model:
            notes.append("live")
        elif info.name == current.previous_model:
            notes.append("previous")
        if info.active and info.name != current.model:
            notes.append("models/ACTIVE: a restart runs it")
        evaluation = evaluations[info.name]
        if evaluation is not None:
            notes.append("evaluated: passes" if evaluation["passes"]
                         else f"evaluated: worse ({len(evaluation['regressions'])} regressions)")
        print(f"{'*' if info.name == current.model else ' '} {info.name}  {info.trained_at:%Y-%m-%d %H:%M} UTC  "
              f"{info.size_bytes / 1e6:.0f} MB  {seconds}" + "".join(f"  [{note}]" for note in notes))
    return 0


def _reason(raw: str) -> str | None:
    reason = raw.strip()
    return reason if len(reason) >= 3 else None


def _refused(refusal: ModelRefused, name: str | None = None) -> int:
    print(f"refused: {refusal}", file=sys.stderr)
    if refusal.code == "worse" and refusal.evaluation:
        _print_regressions(refusal.evaluation, sys.stderr)
        print("  to activate it anyway: --override-reason \"…\" (recorded in the audit log)", file=sys.stderr)
    elif refusal.code == "not_evaluated":
        print(f"  first: acuerdo model evaluate {name} --reason \"…\"", file=sys.stderr)
    return 2


def _print_regressions(evaluation: dict[str, Any], stream: TextIO) -> None:
    margins = evaluation.get("margins") or {}
    allowed = (f"{margins.get('overall')} (each intent's F1: {margins.get('intent')})" if margins
               else str(evaluation.get("margin")))
    print(f"  {evaluation.get('candidate')} against the live {evaluation.get('live')}, worse by more than "
          f"{allowed} on:", file=stream)
    for regression in evaluation.get("regressions") or []:
        print(f"  {regression['metric']}: live {regression['live']:.3f}, new {regression['candidate']:.3f}",
              file=stream)


def _model_train(args: argparse.Namespace) -> int:
    from bot.admin import model_jobs

    reason = _reason(args.reason)
    if reason is None:
        return _error("--reason: say why, in at least 3 characters (it is kept with the model)")
    with session_scope() as session:
        job_id = model_jobs.enqueue(session, model_jobs.TRAIN, None, reason).id
    return _follow_job(job_id)


def _model_activate(args: argparse.Namespace) -> int:
    from bot.admin import model_jobs
    from bot.common.settings import get_settings

    reason = _reason(args.reason)
    if reason is None:
        return _error("--reason: say why, in at least 3 characters (it goes to the audit log)")
    try:
        with session_scope() as session:
            job_id = model_jobs.request_activation(session, get_settings(), None, args.name, reason,
                                                   args.override_reason).id
    except model_jobs.ModelRefused as refusal:
        return _refused(refusal, args.name)
    return _follow_job(job_id)


def _model_evaluate(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from bot.admin import model_jobs
    from bot.common.settings import get_settings

    reason = _reason(args.reason)
    if reason is None:
        return _error("--reason: say why, in at least 3 characters")
    try:
        with session_scope() as session:
            waiting = session.scalars(select(ModelJob).where(  # e.g. the one a train queued: follow it, no second
                ModelJob.kind == model_jobs.EVALUATE, ModelJob.model == args.name,
                ModelJob.status.in_([model_jobs.QUEUED, model_jobs.RUNNING])).order_by(ModelJob.id).limit(1)).first()
            job_id = waiting.id if waiting else model_jobs.request_evaluation(session, get_settings(), None, args.name,
                                                                              reason).id
    except model_jobs.ModelRefused as refusal:
        return _refused(refusal)
    return _follow_job(job_id)


def _model_rollback(args: argparse.Namespace) -> int:
    from bot.admin import model_jobs
    from bot.common.settings import get_settings

    reason = _reason(args.reason)
    if reason is None:
        return _error("--reason: say why, in at least 3 characters (it goes to the audit log)")
    try:
        with session_scope() as session:
            job_id = model_jobs.request_rollback(session, get_settings(), None, reason).id
    except model_jobs.ModelRefused as refusal:
        return _refused(refusal)
    return _follow_job(job_id)


JOB_POLL_SECONDS = 1.0  # how often a model job's status is read while it runs here or elsewhere


class _JobRunner(threading.Thread):
    """Runs queued model jobs in this process (model_jobs.run_next) until `job_id` has been claimed, here or by
    another worker (the app's thread, `python -m api.model_worker`). It claims nothing while another job runs:
    model jobs run one at a time (two switches at once would race on the dialogue route)."""

    def __init__(self, job_id: int, poll_seconds: float) -> None:
        super().__init__(name="acuerdo-model-cli", daemon=True)
        self.job_id = job_id
        self.poll_seconds = poll_seconds
        self.error: Exception | None = None
        self.claiming_since: datetime | None = None  # set while run_next runs: a job claimed after it is ours

    def run(self) -> None:
        from bot.admin import model_jobs

        try:
            while True:
                with session_scope() as session:
                    job = session.get(ModelJob, self.job_id)
                    if job is None or job.status != model_jobs.QUEUED:
                        return
                    running_elsewhere = _other_running(session, self.job_id)
                ran = None
                if not running_elsewhere:
                    self.claiming_since = utcnow()
                    ran = model_jobs.run_next(only=self.job_id)  # never someone else's job
                    self.claiming_since = None
                if ran is None:
                    time.sleep(self.poll_seconds)
        except Exception as exc:  # noqa: BLE001 - reported by the command, which then stops
            self.error = exc


def _other_running(session: Session, job_id: int) -> ModelJob | None:
    """Another model job running now (in the app's worker, `python -m api.model_worker` or another command)."""
    from sqlalchemy import select

    from bot.admin import model_jobs

    return session.scalars(select(ModelJob).where(ModelJob.status == model_jobs.RUNNING, ModelJob.id != job_id)
                           .order_by(ModelJob.id).limit(1)).first()


def _job_line(job: ModelJob, running: ModelJob | None) -> str:
    from bot.admin import model_jobs

    if job.status == model_jobs.QUEUED:
        return (f"#{job.id} {job.kind}: queued behind #{running.id} ({running.kind})" if running
                else f"#{job.id} {job.kind}: queued")
    if job.status == model_jobs.RUNNING:
        progress = job.progress or {}
        line = f"#{job.id} {job.kind}: {progress.get('stage') or 'running'}"
        if progress.get("epoch") is not None:
            line += f", epoch {progress['epoch']}/{progress.get('epochs', '?')}"
        return line
    return f"#{job.id} {job.kind}: {job.status}"


def _follow_job(job_id: int) -> int:
    """Run the job here (or follow the worker that took it), printing its progress; 0 done, 1 failed."""
    from sqlalchemy import update

    from bot.admin import model_jobs

    jobs_log = logging.getLogger(model_jobs.__name__)
    if not logging.getLogger().handlers and not jobs_log.handlers:
        jobs_log.addHandler(logging.NullHandler())  # a failure's traceback: the job's error is printed instead
    poll_seconds = JOB_POLL_SECONDS
    runner = _JobRunner(job_id, poll_seconds)
    runner.start()
    shown = None
    try:
        while True:
            with session_scope() as session:
                job = session.get(ModelJob, job_id)
                assert job is not None
                line = _job_line(job, _other_running(session, job_id) if job.status == model_jobs.QUEUED else None)
                if line != shown:
                    print(line, flush=True)
                    shown = line
                if job.status in (model_jobs.DONE, model_jobs.FAILED):
                    return _job_outcome(session, job)
            if runner.error is not None:
                return _error(f"model job #{job_id}: {runner.error}")
            if runner.is_alive():
                runner.join(poll_seconds)  # wakes at once when the job it ran here ends
            else:
                time.sleep(poll_seconds)
    except KeyboardInterrupt:
        since = runner.claiming_since
        if since is not None:  # a job running here ends with this process (Rasa got the Ctrl-C too): say so
            with session_scope() as session:
                session.execute(update(ModelJob).where(ModelJob.id == job_id, ModelJob.status == model_jobs.RUNNING,
                                                       ModelJob.worker == model_jobs.WORKER)
                    .values(status=model_jobs.FAILED, finished_at=utcnow(),
                            error="interrumpido: se detuvo `acuerdo model` (Ctrl-C)"))
        print(f"interrupted: see job #{job_id} in `acuerdo model list` or the admin tab", file=sys.stderr)
        return 130


def _job_outcome(session: Session, job: ModelJob) -> int:
    from sqlalchemy import select

    from bot.admin import model_jobs

    result = job.result or {}
    if job.status == model_jobs.FAILED:
        print(f"error: model job #{job.id} ({job.kind}) failed: {job.error}", file=sys.stderr)
        if result.get("regressions"):
            _print_regressions(result, sys.stderr)
        return 1
    if job.kind == model_jobs.TRAIN:
        print(f"{job.model}: " + ("a model for these training files already exists, nothing trained"
                                  if result.get("reused") else f"trained in {result.get('seconds')} s"))
        queued = session.scalars(select(ModelJob).where(
            ModelJob.kind == model_jobs.EVALUATE, ModelJob.model == job.model, ModelJob.id > job.id)
            .order_by(ModelJob.id).limit(1)).first()
        if queued is not None:
            print(f"its evaluation against the live model is job #{queued.id} ({queued.status}): the model worker "
                  f"runs it, or `acuerdo model evaluate {job.model} --reason …` here")
    elif job.kind == model_jobs.EVALUATE:
        evaluation = result.get("evaluation") or {}
        print(f"{evaluation.get('candidate')} against the live {evaluation.get('live')}: "
              + ("passes" if evaluation.get("passes") else "worse"))
        for label, scores in (("new", evaluation.get("candidate_scores") or {}),
                              ("live", evaluation.get("live_scores") or {})):
            stories, labelled = scores.get("stories") or {}, scores.get("labelled") or {}
            print(f"  {label}: held-out macro-F1 {scores.get('macro_f1', 0):.3f}, test stories "
                  f"{stories.get('passed')}/{stories.get('total')}"
                  + (f", admins' examples {labelled.get('correct')}/{labelled.get('total')}" if labelled else ""))
        if evaluation.get("regressions"):
            _print_regressions(evaluation, sys.stdout)
    elif job.kind in (model_jobs.ACTIVATE, model_jobs.ROLLBACK):
        print(f"live: {result.get('to')} on {result.get('server')} (was {result.get('from')}; "
              f"loaded in {result.get('load_seconds')} s)")
    else:
        print(f"{job.kind} of {job.model}: done")
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

    payments = commands.add_parser("import-payments", help="apply payments received outside Acuerdo (bank "
                                   "transfers, cash at a branch) from a creditor's CSV")
    payments.add_argument("file")
    payments.add_argument("--max-errors", type=int, default=50, help="rejected rows to list (default 50)")
    payments.set_defaults(handler=_import_payments)

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
    model = commands.add_parser("model", help="the trained models: list, train, evaluate, activate one, roll back "
                                "(the same jobs as the admin tab \"Modelos\")")
    model_actions = model.add_subparsers(dest="action", required=True)
    model_actions.add_parser("list", help="the models kept in models/, newest first (* marks the live one)")
    trainer = model_actions.add_parser("train", help="train from the training files as the admins left them")
    evaluator = model_actions.add_parser("evaluate", help="score a model against the live one (the gate "
                                         "activation needs; loads it on the standby Rasa)")
    evaluator.add_argument("name", help="a model's name, acuerdo-<hash>")
    activator = model_actions.add_parser("activate", help="make a model live (blue/green: no conversation drops)")
    activator.add_argument("name", help="a model's name, acuerdo-<hash> (see `acuerdo model list`)")
    activator.add_argument("--override-reason", help="activate although its evaluation is worse than the live "
                           "model's (recorded in the audit log)")
    roller = model_actions.add_parser("rollback", help="make the previous model live again")
    for action in (trainer, evaluator, activator, roller):
        action.add_argument("--reason", required=True, help="why (kept with the job and in the audit log)")
    model.set_defaults(handler=_model)
    return parser


CampaignRunner = Callable[..., int]  # (name, now, *, wait, progress) -> exit code; the queue lives in api.tasks


def main(argv: list[str] | None = None, campaign_runner: CampaignRunner | None = None,
         payment_provider: Callable[[], Any] | None = None) -> int:
    """`payment_provider`: builds the configured provider (payments/, an edge): an import that pays an account
    off expires its open links there."""
    args = build_parser().parse_args(argv)
    args.runner = campaign_runner
    args.payment_provider = payment_provider
    exit_if_unsafe("acuerdo")
    migrate()
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
