from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from bot.storage.db import alembic_config, migrate
from bot.storage.models import Base


def test_migrations_build_exactly_the_models_on_an_empty_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    migrate(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                       Base.metadata)
    assert differences == []
    assert {"creditors", "debtors", "phones", "accounts", "payments", "conversations", "messages",
            "audit_log"} <= set(inspect(engine).get_table_names())


def test_migrations_go_down_and_up_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'roundtrip.db'}"
    migrate(url)
    migrate(url)  # a second run is a no-op
    command.downgrade(alembic_config(url), "base")
    assert set(inspect(create_engine(url)).get_table_names()) == {"alembic_version"}
    migrate(url)
    assert "accounts" in inspect(create_engine(url)).get_table_names()


def test_migrations_on_an_empty_postgresql_database(postgres) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import create_database

    url = create_database(postgres, "migrations_check")
    migrate(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                       Base.metadata)
    assert differences == []
    engine.dispose()
    command.downgrade(alembic_config(url), "base")
    migrate(url)
    engine = create_engine(url)
    assert "identity_checks" in inspect(engine).get_table_names()
    engine.dispose()
