"""Shared fixtures: every test gets its own migrated SQLite database; nothing touches var/."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from bot.settings import get_settings
from bot.storage.db import migrate, reset_engines, session_scope


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once, copy per test: a fresh database without paying for Alembic every time."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def database_url(tmp_path: Path, _migrated_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    path = tmp_path / "acuerdo.db"
    path.write_bytes(_migrated_template.read_bytes())
    url = f"sqlite:///{path}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    reset_engines()
    yield url
    reset_engines()
    get_settings.cache_clear()


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    with session_scope(database_url) as session:
        yield session
