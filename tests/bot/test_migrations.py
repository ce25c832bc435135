from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from bot.storage.db import alembic_config, migrate
from bot.storage.models import Base
from scripts.services import Postgres
from tests.conftest import create_database

TABLES = {"creditors", "debtors", "phones", "accounts", "payments", "conversations", "messages", "audit_log",
          "identity_checks", "opt_outs"}


def assert_schema_matches_models(url: str) -> None:
    engine = create_engine(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                       Base.metadata)
    assert differences == []
    assert TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()


def assert_down_and_up_again(url: str) -> None:
    migrate(url)  # a second run is a no-op
    command.downgrade(alembic_config(url), "base")
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()
    migrate(url)
    assert_schema_matches_models(url)


def test_migrations_on_an_empty_sqlite_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    migrate(url)
    assert_schema_matches_models(url)
    assert_down_and_up_again(url)


def test_migrations_on_an_empty_postgresql_database(postgres: Postgres) -> None:
    url = create_database(postgres, "migrations_check")
    migrate(url)
    assert_schema_matches_models(url)
    assert_down_and_up_again(url)
