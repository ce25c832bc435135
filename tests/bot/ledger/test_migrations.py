from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from bot.ledger.db import alembic_config, migrate
from bot.ledger.models import Base
from tests.conftest import TEST_DATABASES, create_database

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


@pytest.mark.parametrize("kind", TEST_DATABASES)
def test_migrations_on_an_empty_database(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        url = create_database(request.getfixturevalue("postgres"), "migrations_check")
    migrate(url)
    assert_schema_matches_models(url)
    assert_down_and_up_again(url)
