"""Admin API fixtures: a copy of the project's training files to edit, and a person of each role."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.main import create_app
from bot.agents.users import create_user, issue_token
from bot.ledger.models import Role

PASSWORD = "una clave larga de prueba"
ROLES = {"agent": Role.AGENT, "supervisor": Role.SUPERVISOR, "admin": Role.ADMIN}


@pytest.fixture
def project(training_copy: Path) -> Path:
    return training_copy


def fingerprint(folder: Path) -> dict[str, str]:
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*.yml"))}


@pytest.fixture
def tokens(session: Session) -> dict[str, str]:
    now = datetime.now(UTC)
    issued = {}
    for name, role in ROLES.items():
        user = create_user(session, f"{name}@acuerdo.example", PASSWORD, role, [], all_creditors=role is not Role.ADMIN,
                           now=now)
        issued[name], _ = issue_token(session, user, address="127.0.0.1", now=now)
    session.commit()
    return issued


@pytest.fixture
def api(stripe_env: pytest.MonkeyPatch, project: Path) -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


def auth(tokens: dict[str, str], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[who]}"}
