"""Pooled PostgreSQL connections are pinged before use only after sitting idle (bot.ledger.db): a connection used a
moment ago goes straight to work, and one PostgreSQL dropped while idle is replaced before anyone uses it."""
from __future__ import annotations

import itertools
import time
from typing import Any

from sqlalchemy import Engine, create_engine, text

from bot.ledger.db import make_engine, ping_connections_idle_for
from scripts.services import Postgres
from tests.conftest import create_database

_names = itertools.count()


def _counting_pings(engine: Engine) -> list[int]:
    pings: list[int] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(1)
        return ping(dbapi_connection)

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    return pings


def _backend(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(text("SELECT pg_backend_pid()")))


def test_a_connection_used_a_moment_ago_is_not_pinged(postgres: Postgres) -> None:
    engine = make_engine(create_database(postgres, f"pings_{next(_names)}"))
    pings = _counting_pings(engine)
    assert _backend(engine) == _backend(engine) == _backend(engine)
    assert pings == []  # pool_pre_ping would have pinged the second and third check-outs
    engine.dispose()


def test_an_idle_connection_is_pinged_and_a_dead_one_replaced_before_use(postgres: Postgres) -> None:
    url = create_database(postgres, f"pings_{next(_names)}")
    engine = create_engine(url)
    ping_connections_idle_for(engine, 0.2)
    pings = _counting_pings(engine)
    first = _backend(engine)
    time.sleep(0.3)
    assert _backend(engine) == first and len(pings) == 1  # idle: pinged, alive, kept
    time.sleep(0.3)
    admin = create_engine(postgres.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    admin.dispose()
    time.sleep(0.3)
    replacement = _backend(engine)  # no error: the dead one failed its ping and was replaced
    assert replacement != first and len(pings) == 2
    engine.dispose()
