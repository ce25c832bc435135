"""Campaign work on Dramatiq: the scheduler enqueues due steps, workers on any number of machines send them.

Why Dramatiq: its Redis broker acknowledges a job only after it ran, and hands the jobs of a worker that
stopped sending heartbeats (killed, machine gone) to the others, so nothing is lost; retries with backoff
are built in; it needs no result backend or beat process; and it has an in-process mode (StubBroker) for
the embedded demo. Doubles are stopped by the database (bot.campaigns.delivery), not by the queue.

    python -m api.tasks worker      # one worker process (REDIS_URL set: joins the shared queue)
    python -m api.tasks scheduler   # enqueue every campaign's due steps now, then every few minutes
"""
from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.rate_limits import WindowRateLimiter
from dramatiq.rate_limits.backends import RedisBackend, StubBackend
from redis import Redis
from sqlalchemy import func, select

from api.deps import get_redis, get_transport
from bot.campaigns.cadences import campaigns
from bot.campaigns.delivery import Outcome, deliver
from bot.campaigns.planner import Job, deferred_due, due_jobs
from bot.common.settings import exit_if_unsafe, get_settings
from bot.ledger.db import migrate, session_scope
from bot.ledger.models import CampaignSend, Message, MessageStatus, utcnow
from bot.payments.links import PaymentProvider
from payments import provider_from_settings

log = logging.getLogger(__name__)
QUEUE = "campaigns"
NAMESPACE = "acuerdo-tasks"
SCHEDULER_INTERVAL_SECONDS = 300
_MAINTENANCE_CHANCE = 50_000  # per million broker calls: dead workers' jobs are looked for often


@lru_cache(maxsize=1)
def get_broker() -> dramatiq.Broker:
    settings = get_settings()
    if settings.redis_url:
        broker: dramatiq.Broker = RedisBroker(url=settings.redis_url, namespace=NAMESPACE,
                                              heartbeat_timeout=settings.campaign_redelivery_seconds * 1000,
                                              maintenance_chance=_MAINTENANCE_CHANCE)
    else:
        broker = StubBroker()  # the embedded demo: workers are threads of the process that enqueues
    dramatiq.set_broker(broker)
    return broker


@lru_cache(maxsize=1)
def _provider() -> PaymentProvider:
    return provider_from_settings()


@lru_cache(maxsize=1)
def _rate_backend() -> RedisBackend | StubBackend:
    settings = get_settings()
    return RedisBackend(url=settings.redis_url) if settings.redis_url else StubBackend()


def wait_for_sender(sender: str) -> None:
    """Blocks until `sender` may send one more message (campaign_rate_per_sender, shared by all workers)."""
    rate = get_settings().campaign_rate_per_sender
    window = max(1, math.ceil(1 / rate))
    limiter = WindowRateLimiter(_rate_backend(), f"{NAMESPACE}:sender:{sender}", limit=max(1, int(rate * window)),
                                window=window)
    while not limiter.acquire(raise_on_failure=False):
        time.sleep(0.05)


def deliver_step(campaign: str, step: str, account_id: int, day: str, anchor_id: int | None) -> None:
    """The actor: one campaign step for one account (idempotent; safe to run again after a crash)."""
    job = Job.from_args(campaign, step, account_id, day, anchor_id)
    with session_scope() as session:
        outcome = deliver(session, get_transport(), job, utcnow(), checkpoint=session.commit,
                          wait_for_sender=wait_for_sender, provider=_provider())
    log.debug("%s: %s", job, outcome.value)


@lru_cache(maxsize=1)
def deliver_actor() -> dramatiq.Actor[..., Any]:
    decorate = dramatiq.actor(broker=get_broker(), actor_name="deliver_step", queue_name=QUEUE, max_retries=10,
                              min_backoff=1000, max_backoff=60_000, time_limit=120_000)
    return decorate(deliver_step)


ENQUEUED_TTL_SECONDS = 3600  # a job not handled within the hour (dead-lettered, Redis lost) is enqueued again
_enqueued_here: dict[str, float] = {}  # the in-process mode's memory of what it enqueued


def _first_enqueue(job: Job, client: Redis | None, round_: str) -> bool:
    """True the first time this job is enqueued within the hour for this `round_` (its first run, or a deferred
    reminder's due moment): a scheduler waking every few minutes over a backlog must not pile copies of the
    same job on the queue (they would be harmless, but not free)."""
    key = f"{NAMESPACE}:enqueued:{job.campaign}:{job.step}:{job.account_id}:{job.day.isoformat()}:{round_}"
    if client is not None:
        return bool(client.set(key, 1, nx=True, ex=ENQUEUED_TTL_SECONDS))
    now = time.monotonic()
    if _enqueued_here.get(key, 0) > now:
        return False
    _enqueued_here[key] = now + ENQUEUED_TTL_SECONDS
    return True


def enqueue(jobs: Iterable[Job | tuple[Job, datetime]]) -> int:
    """Send each job to the workers, unless it is already waiting there. A (job, moment) pair is a deferred
    reminder due at that moment: a round of its own. Returns how many were sent."""
    actor = deliver_actor()
    client = get_redis()
    count = 0
    for item in jobs:
        job, round_ = (item, "first") if isinstance(item, Job) else (item[0], item[1].isoformat())
        if _first_enqueue(job, client, round_):
            actor.send(*job.as_args())
            count += 1
    return count


def schedule_due(names: Iterable[str] | None = None, now: datetime | None = None) -> dict[str, int]:
    """Enqueue every due step not yet handled today, per campaign. Running it twice enqueues nothing new."""
    now = now or utcnow()
    counts = {}
    for name in names or campaigns():
        with session_scope() as session:
            jobs = due_jobs(session, campaigns()[name], now, pending_only=True)
        counts[name] = enqueue(jobs)
    with session_scope() as session:
        deferred = deferred_due(session, now)
    counts["deferred"] = enqueue(deferred)  # a reminder deferred again is enqueued again at its next moment
    return counts


def progress_counts(name: str, since: datetime) -> dict[str, int]:
    """How this run's steps ended so far: blocked, scheduled (waiting for the allowed moment), sent, failed."""
    with session_scope() as session:
        rows = session.execute(
            select(CampaignSend.message_id.is_(None), Message.status, func.count())
            .outerjoin(Message, Message.id == CampaignSend.message_id)
            .where(CampaignSend.campaign == name, CampaignSend.created_at >= since)
            .group_by(CampaignSend.message_id.is_(None), Message.status))
        counts = {"blocked": 0, "scheduled": 0, "sent": 0, "failed": 0}
        for blocked, status, count in rows:
            key = ("blocked" if blocked else "scheduled" if status in (MessageStatus.QUEUED, MessageStatus.SENDING)
                   else "failed" if status in (MessageStatus.FAILED, MessageStatus.UNDELIVERED) else "sent")
            counts[key] += count
        return counts


def run_campaign(name: str, now: datetime, *, wait: bool = True, progress: bool = True,
                 stall_seconds: float = 600) -> int:
    """`acuerdo campaign run NAME`: enqueue today's due steps and (wait) show progress until each is handled.

    Without REDIS_URL (the embedded demo) the worker runs here, as threads; with it, the workers do.
    """
    from tqdm import tqdm

    started = utcnow()
    with session_scope() as session:
        jobs = due_jobs(session, campaigns()[name], now, pending_only=True)
    worker = None if get_settings().redis_url else InProcessWorker().start()
    total = len(jobs)
    print(f"{total} steps of {name} to handle ({enqueue(jobs)} enqueued now, the rest already waiting)")
    if not wait and worker is None:
        return 0
    last_change, done = time.monotonic(), 0
    with tqdm(total=total, unit="accounts", desc=name, disable=not progress) as bar:
        while done < total and time.monotonic() - last_change < stall_seconds:
            time.sleep(0.5)
            now_done = sum(progress_counts(name, started).values())
            if now_done != done:
                bar.update(now_done - done)
                done, last_change = now_done, time.monotonic()
    if worker is not None:
        worker.join()
        worker.stop()
    counts = progress_counts(name, started)
    print(", ".join(f"{key}: {value}" for key, value in counts.items()))
    return 0 if sum(counts.values()) >= total else 1


class InProcessWorker:
    """The queue's worker as threads of this process (the demo, and `acuerdo campaign run` without Redis)."""

    def __init__(self, threads: int | None = None) -> None:
        deliver_actor()
        self._worker = dramatiq.Worker(get_broker(), worker_threads=threads or get_settings().campaign_worker_threads)

    def start(self) -> InProcessWorker:
        self._worker.start()
        return self

    def join(self) -> None:
        """Wait until the queue is empty (StubBroker only)."""
        broker = get_broker()
        if isinstance(broker, StubBroker):
            broker.join(QUEUE, fail_fast=False)
            self._worker.join()

    def stop(self) -> None:
        self._worker.stop()


class EmbeddedCampaigns:
    """The demo's campaigns: a scheduler thread and an in-process worker inside the app (no Redis needed)."""

    def __init__(self, interval_seconds: float) -> None:
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._worker = InProcessWorker(threads=1)
        self._thread = threading.Thread(target=self._loop, name="acuerdo-campaigns", daemon=True)

    def start(self) -> EmbeddedCampaigns:
        self._worker.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._worker.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                scheduled = schedule_due()
                if any(scheduled.values()):
                    log.info("campaign steps scheduled: %s", scheduled)
            except Exception:  # a failed pass is tried again at the next one: the database key keeps it once
                log.exception("campaign scheduling failed")
            self._stop.wait(self._interval)


def _run_until_signalled(tick: Callable[[], None] | None = None, interval: float = 1.0) -> None:
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    while not stopped.is_set():
        if tick is not None:
            tick()
        stopped.wait(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.tasks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", choices=["worker", "scheduler"])
    parser.add_argument("--threads", type=int, help="worker threads (default CAMPAIGN_WORKER_THREADS)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    exit_if_unsafe(f"api.tasks {args.role}")
    migrate()
    if args.role == "worker":
        if not get_settings().redis_url:
            print("REDIS_URL is not set: run campaigns with `acuerdo campaign run` (in-process)", file=sys.stderr)
            return 2
        worker = InProcessWorker(args.threads).start()
        log.info("campaign worker started (%s threads)", args.threads or get_settings().campaign_worker_threads)
        _run_until_signalled()
        worker.stop()
        return 0
    _run_until_signalled(lambda: log.info("scheduled %s", schedule_due()), SCHEDULER_INTERVAL_SECONDS)
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["InProcessWorker", "Outcome", "deliver_actor", "enqueue", "get_broker", "run_campaign", "schedule_due",
           "wait_for_sender"]
