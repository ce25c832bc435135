"""The change feed behind the console's live updates: a commit here wakes a listener at once, a commit
published by another process (through Redis) too, and a quiet feed still beats."""
from __future__ import annotations

import asyncio
import time

import redis
import redis.asyncio as redis_async
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.ledger.changes import CHANNEL, ChangeFeed
from bot.ledger.models import AuditLog, Conversation
from scripts.services import Redis

HEARTBEAT = 30.0  # far longer than any wake-up below: a wake-up that took this long would fail the test


async def first_wake(feed: ChangeFeed, trigger: object) -> float:
    started = time.monotonic()
    changes = feed.changes(heartbeat_seconds=HEARTBEAT)
    waiting = asyncio.ensure_future(changes.__anext__())
    await asyncio.sleep(0.5)  # subscribed and waiting
    await asyncio.to_thread(trigger)  # type: ignore[arg-type]
    await asyncio.wait_for(waiting, timeout=10)
    await changes.aclose()
    return time.monotonic() - started


def test_a_commit_here_or_in_another_process_wakes_the_listener(session: Session, redis_server: Redis) -> None:
    feed = ChangeFeed()
    feed.install(redis_server.url)

    def commit_here() -> None:
        session.add(AuditLog(actor="test", action="poke", entity_type="test"))
        session.commit()

    def another_process_commits() -> None:  # what the action server's feed does on its commits
        redis.Redis.from_url(redis_server.url).publish(CHANNEL, "1")

    assert asyncio.run(first_wake(feed, commit_here)) < 5
    assert asyncio.run(first_wake(feed, another_process_commits)) < 5


def test_without_redis_a_quiet_feed_still_beats() -> None:
    feed = ChangeFeed()
    feed.install(None)

    async def beat() -> float:
        started = time.monotonic()
        changes = feed.changes(heartbeat_seconds=1.0)
        await asyncio.wait_for(changes.__anext__(), timeout=5)
        await changes.aclose()
        return time.monotonic() - started

    assert 0.9 <= asyncio.run(beat()) < 3


def test_only_commits_that_wrote_count(session: Session) -> None:
    feed = ChangeFeed()
    feed.install(None)
    start = feed.version
    session.scalars(select(AuditLog)).all()
    session.commit()  # a read
    assert feed.version == start
    session.add(AuditLog(actor="test", action="poke", entity_type="test"))
    session.commit()  # an insert through the unit of work
    assert feed.version == start + 1
    session.execute(update(Conversation).where(Conversation.id == -1).values(mode_reason="x"))
    session.commit()  # a bulk statement, no flush
    assert feed.version == start + 2
    session.add(AuditLog(actor="test", action="undone", entity_type="test"))
    session.flush()
    session.rollback()
    session.scalars(select(AuditLog)).all()
    session.commit()  # a rolled-back write is forgotten with it
    assert feed.version == start + 2


def test_a_burst_of_commits_wakes_a_listener_a_few_times_not_each_time(redis_server: Redis) -> None:
    feed = ChangeFeed()
    feed.install(redis_server.url)

    async def wakes_during_a_burst() -> tuple[int, float]:
        changes = feed.changes(heartbeat_seconds=HEARTBEAT)
        wakes = 0

        async def listen() -> None:
            nonlocal wakes
            async for _ in changes:
                wakes += 1

        listening = asyncio.ensure_future(listen())
        await asyncio.sleep(0.5)  # subscribed and waiting
        publisher = redis.Redis.from_url(redis_server.url)
        started = time.monotonic()
        for _ in range(200):  # a burst: 200 commits, one every 5 ms
            publisher.publish(CHANNEL, "1")
            await asyncio.sleep(0.005)
        await asyncio.sleep(1)
        listening.cancel()
        return wakes, time.monotonic() - started

    wakes, seconds = asyncio.run(wakes_during_a_burst())
    assert 1 <= wakes <= seconds / 0.25 + 2  # a wake a poll at most, however slow the machine made the burst
    assert wakes < 40  # not one for each of the 200


def test_a_burst_of_announcements_publishes_twice_and_a_later_one_at_once(redis_server: Redis) -> None:
    """The webhook's store on the event loop announces its writes itself, without waiting: 5 at once publish once,
    5 more while that is on its way once more after it; every one counts here."""
    feed = ChangeFeed()
    feed.install(redis_server.url)

    async def announce() -> tuple[int, int, bool]:
        listener = redis_async.Redis.from_url(redis_server.url)
        pubsub = listener.pubsub()
        await pubsub.subscribe(CHANNEL)
        assert (await pubsub.get_message(timeout=5) or {}).get("type") == "subscribe"  # listening from here on
        client = redis_async.Redis.from_url(redis_server.url)
        try:
            before = feed.version
            for _ in range(5):
                feed.announce(client)  # nobody waits: one task publishes for all five
            await asyncio.sleep(0)  # the task starts publishing
            for _ in range(5):
                feed.announce(client)  # while it is on its way: once more after it
            await feed.announced()
            heard = 0
            while await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5) is not None:
                heard += 1
            feed.announce(client)
            later = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5) is not None
            return heard, feed.version - before, later
        finally:
            await pubsub.aclose()
            await listener.aclose()
            await client.aclose()

    heard, counted, later = asyncio.run(announce())
    assert (heard, counted, later) == (2, 11, True)
