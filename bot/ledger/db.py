"""Engines, sessions and migrations. SQLite by default, PostgreSQL through DATABASE_URL."""
from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import ColumnElement, Engine, any_, create_engine, event, literal
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from bot.common.settings import get_settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite; WAL lets the app and the action server share the file.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _ensure_sqlite_folder(url: str) -> None:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str) -> Engine:
    _ensure_sqlite_folder(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _enable_sqlite_pragmas)
        return engine
    # Sessions in UTC: date() and date arithmetic on timestamptz then mean UTC days, whatever the server's zone.
    options = {"options": "-c timezone=UTC"} if url.startswith("postgresql") else {}
    # A pool that keeps its connections: SQLAlchemy's default (5, plus 10 made and closed again on demand) had a
    # burst of webhooks open a PostgreSQL connection (a backend process) per request beyond the fifth.
    pool = get_settings().db_pool_size
    engine = create_engine(url, connect_args=options, pool_size=pool, max_overflow=pool // 2)
    ping_connections_idle_for(engine, PING_AFTER_IDLE_SECONDS)
    return engine


PING_AFTER_IDLE_SECONDS = 10.0


def ping_connections_idle_for(engine: Engine, seconds: float) -> None:
    """Ping a pooled connection before use only when it sat idle `seconds` or more; one that fails is replaced
    before anyone uses it, and the pool's older connections with it (a restart dropped them all), as pre-ping does.
    SQLAlchemy's `pool_pre_ping` pings at every check-out: a round trip to PostgreSQL a unit of work, a third of
    the reply worker's (issue 23), for connections used a moment ago. One that PostgreSQL dropped within the last
    `seconds` (a restart) fails its statement instead, and the pool replaces it then."""
    dialect = engine.dialect

    def checked_in(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")  # None: connected just now
        if idle_since is None or time.monotonic() - idle_since < seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:  # the pool drops it, and every older one, and connects anew
            raise InvalidatePoolError(f"a connection idle {time.monotonic() - idle_since:.0f} s failed its ping") \
                from error

    event.listen(engine, "checkin", checked_in)
    event.listen(engine, "checkout", checked_out)


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    return make_engine(url or get_settings().database_url)


@lru_cache(maxsize=8)
def _session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A unit of work: commits on success, rolls back on error."""
    session = _session_factory(url or get_settings().database_url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", (url or get_settings().database_url).replace("%", "%%"))
    return config


def migrate(url: str | None = None) -> None:
    """Bring the database schema to the newest migration (safe to run again)."""
    _ensure_sqlite_folder(url or get_settings().database_url)
    command.upgrade(alembic_config(url), "head")


def reset_engines() -> None:
    """Forget cached engines (tests switch databases between cases)."""
    _session_factory.cache_clear()
    get_engine.cache_clear()



def one_of(session: Session, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """`column IN (values)` for thousands of values: on PostgreSQL one array parameter (`= ANY(…)`), which
    spares building and parsing a query with a parameter per value; elsewhere a plain IN."""
    listed = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(listed, ARRAY(column.type)))
    return column.in_(listed)
