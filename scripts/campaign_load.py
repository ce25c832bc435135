"""A seeded campaign at scale, for the campaign e2e test and the benchmark: thousands of accounts due today,
some of them blocked for each reason, and real worker processes (`python -m api.tasks worker`).

The debtors are Mexican (contact 7:00–22:00 every day) and each lives in a time zone where it is midday
now, so whatever the hour the suite runs, the contact hours allow every eligible message and only the
blocks stop any: what the test checks is exactly-once delivery, not the clock.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, func, insert, select

from bot.common import config
from bot.ledger.models import (
    Account,
    AccountStatus,
    CampaignSend,
    Creditor,
    Debtor,
    Message,
    MessageStatus,
    OptOut,
    Phone,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CAMPAIGN, STEP_DAYS = "early", 3  # the early campaign's day_3 step: due three days ago
BLOCK_EVERY = 10  # one account in ten is blocked, for each reason in turn
BLOCK_REASONS = ("opted_out", "wrong_number", "dispute", "paused")


def midday_zone(now: datetime) -> str:
    """A fixed-offset IANA zone where `now` falls as near 12:00 as it can on Mexico's date: the reminders are for
    Mexico's day, and a debtor whose own clock is already on the next day gets none (bot.campaigns.delivery)."""
    mexico_day = now.astimezone(ZoneInfo(config.country("MX").timezone)).date()
    utc = now.astimezone(UTC)
    offset = min((hours for hours in range(-12, 15) if (utc + timedelta(hours=hours)).date() == mexico_day),
                 key=lambda hours: abs((utc + timedelta(hours=hours)).hour - 12))
    return "Etc/UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"  # Etc/GMT signs are inverted


@dataclass
class SeededCampaign:
    eligible: set[str] = field(default_factory=set)  # numbers that must get exactly one message
    blocked: dict[str, str] = field(default_factory=dict)  # number → why it must get none

    @property
    def accounts(self) -> int:
        return len(self.eligible) + len(self.blocked)


def seed(url: str, accounts: int, now: datetime, *, creditor_code: str = "banco-aurora") -> SeededCampaign:
    """`accounts` Mexican accounts due `STEP_DAYS` days ago, one debtor and number each, in bulk inserts."""
    engine = create_engine(url)
    zone = midday_zone(now)
    due = now.astimezone(ZoneInfo(config.country("MX").timezone)).date() - timedelta(days=STEP_DAYS)
    seeded = SeededCampaign()
    with engine.begin() as connection:
        creditor_id = connection.scalar(select(Creditor.id).where(Creditor.code == creditor_code))
        if creditor_id is None:
            creditor_id = connection.execute(insert(Creditor).values(code=creditor_code, name=creditor_code,
                                                                     created_at=now).returning(Creditor.id)).scalar_one()
        first = connection.scalar(select(func.count()).select_from(Debtor)) or 0
        numbers = [f"+5255{first + index:08d}" for index in range(accounts)]
        debtor_ids = list(connection.scalars(
            insert(Debtor).returning(Debtor.id, sort_by_parameter_order=True),
            [{"external_id": f"LOAD-{first + index}", "full_name": f"Cliente {first + index} Prueba",
              "document_id": "00001234", "country": "MX", "timezone": zone, "is_demo": False, "extra": {},
              "created_at": now, "updated_at": now} for index in range(accounts)]))
        phones, account_rows, opt_outs = [], [], []
        for index, (debtor_id, number) in enumerate(zip(debtor_ids, numbers, strict=True)):
            reason = BLOCK_REASONS[(index // BLOCK_EVERY) % len(BLOCK_REASONS)] if index % BLOCK_EVERY == 0 else None
            phones.append({"debtor_id": debtor_id, "e164": number, "verified": index % 3 == 0,
                           "wrong_number": reason == "wrong_number", "created_at": now})
            account_rows.append({"external_id": f"LOAD-A-{first + index}", "creditor_id": creditor_id,
                                 "debtor_id": debtor_id, "product": "Tarjeta de crédito", "currency": "MXN",
                                 "principal": 1000 + index % 5000, "interest": 0, "fees": 0, "due_date": due,
                                 "status": AccountStatus.ACTIVE, "created_at": now, "updated_at": now,
                                 "collection_paused_reason": {"dispute": "dispute", "paused": "hardship"}.get(
                                     reason or "")})
            if reason == "opted_out":
                opt_outs.append({"e164": number, "channel": "whatsapp", "source": "keyword", "created_at": now})
            if reason:
                seeded.blocked[number] = reason
            else:
                seeded.eligible.add(number)
        connection.execute(insert(Phone), phones)
        connection.execute(insert(Account), account_rows)
        if opt_outs:
            connection.execute(insert(OptOut), opt_outs)
    engine.dispose()
    return seeded


def worker_env(database_url: str, redis_url: str, twilio_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "TWILIO_API_BASE": twilio_url,
            "CAMPAIGN_RATE_PER_SENDER": "100000", "CAMPAIGN_REDELIVERY_SECONDS": "3", **extra}


def start_workers(count: int, env: dict[str, str], threads: int = 4,
                  log_dir: Path | None = None) -> list[subprocess.Popen[bytes]]:
    workers = []
    for index in range(count):
        log = open(log_dir / f"worker-{index}.log", "wb") if log_dir else subprocess.DEVNULL  # noqa: SIM115
        workers.append(subprocess.Popen([sys.executable, "-m", "api.tasks", "worker", "--threads", str(threads)],
                                        cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
    return workers


def stop_workers(workers: Sequence[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def enqueue(env: dict[str, str]) -> None:
    """`acuerdo campaign run early --no-wait`, as an operator would type it."""
    subprocess.run([sys.executable, "-m", "api.cli", "campaign", "run", CAMPAIGN, "--no-wait", "--quiet"],
                   cwd=PROJECT_ROOT, env=env, check=True, capture_output=True)


@dataclass(frozen=True)
class Progress:
    handled: int  # steps with their CampaignSend row
    sent: int
    in_flight: int  # queued or sending


def progress(url: str) -> Progress:
    engine = create_engine(url)
    with engine.connect() as connection:
        handled = connection.scalar(select(func.count()).select_from(CampaignSend)
                                    .where(CampaignSend.campaign == CAMPAIGN)) or 0
        statuses: dict[MessageStatus, int] = {status: count for status, count in connection.execute(
            select(Message.status, func.count()).join(CampaignSend, CampaignSend.message_id == Message.id)
            .group_by(Message.status))}
    engine.dispose()
    sent = sum(count for status, count in statuses.items()
               if status in (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ))
    in_flight = sum(count for status, count in statuses.items()
                    if status in (MessageStatus.QUEUED, MessageStatus.SENDING))
    return Progress(handled, sent, in_flight)


def wait_until_handled(url: str, expected: int, timeout: float) -> Progress:
    deadline = time.monotonic() + timeout
    current = progress(url)
    while time.monotonic() < deadline and (current.handled < expected or current.in_flight):
        time.sleep(0.5)
        current = progress(url)
    return current

