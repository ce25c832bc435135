"""A campaign over 5,000 accounts: real PostgreSQL, real Redis, real worker processes, the official Twilio SDK
against the local fake. A worker is killed with SIGKILL mid-run; the run still ends with exactly one message
for every eligible account and none for a blocked one.
"""
from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from bot.ledger.db import migrate, reset_engines
from bot.ledger.models import CampaignSend
from scripts import campaign_load
from scripts.services import Postgres, Redis
from tests.conftest import create_database
from tests.fakes.twilio_api import FakeTwilio

pytestmark = pytest.mark.e2e
ACCOUNTS = 5000


@pytest.fixture
def campaign_database(postgres: Postgres) -> Iterator[str]:
    url = create_database(postgres, f"campaign_{os.getpid()}_{int(time.time())}")
    migrate(url)
    reset_engines()
    yield url


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


def test_a_killed_worker_loses_and_doubles_nothing(campaign_database: str, redis_server: Redis, twilio: FakeTwilio,
                                                   tmp_path: Path) -> None:
    seeded = campaign_load.seed(campaign_database, ACCOUNTS, datetime.now(UTC))
    env = campaign_load.worker_env(campaign_database, redis_server.url.replace("/0", "/5"), twilio.url)
    workers = campaign_load.start_workers(2, env, log_dir=tmp_path)
    try:
        campaign_load.enqueue(env)
        deadline = time.monotonic() + 120
        while len(twilio.sent) < ACCOUNTS // 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(twilio.sent) >= ACCOUNTS // 5, "the workers did not start sending"
        os.kill(workers[0].pid, signal.SIGKILL)  # mid-run: its claimed and prefetched jobs go back to the queue
        assert len(twilio.sent) < len(seeded.eligible), "the kill came too late to prove anything"
        (tmp_path / "replacement").mkdir()
        workers += campaign_load.start_workers(1, env, log_dir=tmp_path / "replacement")
        final = campaign_load.wait_until_handled(campaign_database, seeded.accounts, timeout=600)
    finally:
        campaign_load.stop_workers(workers)

    received = Counter(message["To"].removeprefix("whatsapp:") for message in twilio.sent)
    assert {number for number, count in received.items() if count > 1} == set(), "a message was doubled"
    assert set(received) == seeded.eligible, "an eligible account got nothing, or a blocked one got something"
    assert final.handled == seeded.accounts and final.in_flight == 0 and final.sent == len(seeded.eligible)
    engine = create_engine(campaign_database)
    with engine.connect() as connection:
        blocked = Counter(decision["code"] for decision in connection.scalars(
            select(CampaignSend.decision).where(CampaignSend.message_id.is_(None))))
    engine.dispose()
    assert blocked == Counter(seeded.blocked.values()), "each blocked account is recorded with its reason"
