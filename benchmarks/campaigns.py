"""Reminder campaign throughput: `make bench` (or `python -m benchmarks.campaigns`).

Planning: N Mexican accounts due for the `early` campaign's day_3 step (one in ten blocked, for each reason in
turn) in a fresh PostgreSQL database; times `due_jobs` plus `plan` over every job in this process, as
`acuerdo campaign preview` and the scheduler do, and prints accounts per second and what the rules decided.

Sending: for each worker count, a fresh database and a fresh Redis, real `python -m api.tasks worker`
processes, the jobs enqueued by `acuerdo campaign run early --no-wait`, and the official Twilio SDK talking
to a local fake Twilio in this process. Throughput is measured from the first message the fake received to
the last, so worker start-up and the enqueueing command's own start-up are left out.

    python -m benchmarks.campaigns [--plan-accounts 100000] [--send-accounts 3000] [--workers 1,2] [--threads 4]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

from bot.campaigns.cadences import campaign
from bot.campaigns.planner import Preview, due_jobs, plan
from bot.ledger.db import migrate, reset_engines, session_scope
from scripts import campaign_load
from scripts.services import Postgres, start_postgres, start_redis
from tests.fakes.twilio_api import FakeTwilio

READY_LINE = b"campaign worker started"
STALL_SECONDS = 60  # no new message for this long: the round is reported as it stands


def create_database(server: Postgres, name: str) -> str:
    """A fresh, empty database on `server` (as tests/conftest.py does; tests/ is not imported for it)."""
    engine = create_engine(server.admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server.url(name)


def fresh_database(server: Postgres, name: str) -> str:
    url = create_database(server, name)
    migrate(url)
    reset_engines()
    return url


class TimedSent(list[dict[str, str]]):
    """The fake's record of sent messages, with the monotonic time each one arrived: exact first and last."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, item: dict[str, str]) -> None:
        self.times.append(time.monotonic())
        super().append(item)


def bench_planning(server: Postgres, accounts: int) -> None:
    """What a scheduler wake-up or a preview costs on a large portfolio: two bulk reads per batch of jobs."""
    url = fresh_database(server, "plan")
    now = datetime.now(UTC)
    started = time.perf_counter()
    campaign_load.seed(url, accounts, now)
    print(f"planning: seeded {accounts:,} accounts in {time.perf_counter() - started:.1f} s (not counted)")
    early = campaign(campaign_load.CAMPAIGN)
    result = Preview(early.name)
    with session_scope(url) as session:
        started = time.perf_counter()
        jobs = due_jobs(session, early, now, pending_only=True)
        found = time.perf_counter() - started
        for planned in plan(session, jobs, now):
            result.add(planned)
        elapsed = time.perf_counter() - started
    reset_engines()
    print(f"planning: {result.accounts:,} accounts planned in {elapsed:.2f} s = {result.accounts / elapsed:,.0f} "
          f"accounts/s (due_jobs {found:.2f} s, plan {elapsed - found:.2f} s)")
    print(f"planning: send now {result.send_now:,}, deferred {result.deferred:,}, "
          f"blocked {sum(result.blocked.values()):,} ("
          + ", ".join(f"{code} {count:,}" for code, count in result.blocked.most_common()) + ")")


def wait_until_ready(workers: Sequence[subprocess.Popen[bytes]], log_dir: Path, timeout: float = 120) -> None:
    """Enqueue only once every worker consumes: a late starter would otherwise count as slow sending."""
    deadline = time.monotonic() + timeout
    logs = [log_dir / f"worker-{index}.log" for index in range(len(workers))]
    while not all(log.exists() and READY_LINE in log.read_bytes() for log in logs):
        for worker, log in zip(workers, logs, strict=True):
            if worker.poll() is not None:
                raise RuntimeError(f"a worker exited ({worker.returncode}):\n{log.read_text(errors='replace')[-2000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the workers did not start within {timeout:.0f} s (logs in {log_dir})")
        time.sleep(0.1)


def bench_sending(server: Postgres, accounts: int, workers: int, threads: int) -> None:
    """Messages per second through the real queue and workers, for one worker count."""
    url = fresh_database(server, f"send_{workers}")
    seeded = campaign_load.seed(url, accounts, datetime.now(UTC))
    expected = len(seeded.eligible)
    redis, sent = start_redis(), TimedSent()
    fake = FakeTwilio(sent=sent).start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="acuerdo-bench-workers-") as tmp:
            # Production's redelivery delay: a worker busy on a shared CPU must not look dead and lose its jobs.
            env = campaign_load.worker_env(url, redis.url, fake.url, CAMPAIGN_REDELIVERY_SECONDS="60")
            processes = campaign_load.start_workers(workers, env, threads=threads, log_dir=Path(tmp))
            wait_until_ready(processes, Path(tmp))
            campaign_load.enqueue(env)
            seen, last_change = 0, time.monotonic()
            while len(sent) < expected and time.monotonic() - last_change < STALL_SECONDS:
                time.sleep(0.05)
                if len(sent) != seen:
                    seen, last_change = len(sent), time.monotonic()
    finally:
        campaign_load.stop_workers(processes)
        fake.stop()
        redis.stop()
    messages = len(sent.times)
    seconds = max(sent.times) - min(sent.times) if messages > 1 else float("nan")
    rate = messages / seconds
    print(f"sending: {workers} workers x {threads} threads: {messages:,} messages in {seconds:.1f} s = "
          f"{rate:,.0f} msg/s total, {rate / workers:,.0f} msg/s per worker"
          + ("" if messages == expected else f"  (expected {expected:,}: stalled for {STALL_SECONDS} s)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan-accounts", type=int, default=100_000)
    parser.add_argument("--send-accounts", type=int, default=3000)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker process counts, one round each")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker process")
    args = parser.parse_args()
    print(f"Campaigns ({os.cpu_count()} CPUs; the fake Twilio, PostgreSQL, Redis and the workers share this machine)")
    server = start_postgres()
    try:
        bench_planning(server, args.plan_accounts)
        for workers in (int(count) for count in args.workers.split(",")):
            bench_sending(server, args.send_accounts, workers, args.threads)
    finally:
        reset_engines()
        server.stop()


if __name__ == "__main__":
    main()
