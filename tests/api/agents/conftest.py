"""The agent API on a unit-test ledger (SQLite and PostgreSQL): two debtors of two creditors, each with a
handed-off WhatsApp conversation, and a person of every role (tokens issued as sign-in would)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.main import create_app
from bot.agents.users import create_user, issue_token
from bot.ledger.models import Debtor, Role
from bot.ledger.portfolio import import_portfolio_text
from bot.messaging.conversations import request_handoff
from tests.factories import ana_and_camila

ANA = "whatsapp:+525512345678"  # Banco Aurora
CAMILA = "whatsapp:+56987654321"  # Finanzas del Norte
PASSWORD = "una clave larga de prueba"


@dataclass(frozen=True)
class Desk:
    ana: int  # conversation ids
    camila: int
    tokens: dict[str, str]  # who → bearer token

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who != "anonymous" else {}


PEOPLE: dict[str, tuple[Role, list[str]]] = {
    "agent_aurora": (Role.AGENT, ["banco-aurora"]),
    "agent_aurora_2": (Role.AGENT, ["banco-aurora"]),
    "agent_norte": (Role.AGENT, ["finanzas-norte"]),
    "supervisor_aurora": (Role.SUPERVISOR, ["banco-aurora"]),
    "admin": (Role.ADMIN, []),
}


@pytest.fixture
def desk(session: Session) -> Desk:
    now = datetime.now(UTC)
    import_portfolio_text(session, ana_and_camila())
    ids = {}
    for sender, debtor_ext in ((ANA, "D1"), (CAMILA, "D2")):
        debtor_id = session.scalars(select(Debtor.id).where(Debtor.external_id == debtor_ext)).one()
        conversation = request_handoff(session, sender, "debtor_request", now - timedelta(minutes=20), debtor_id)
        conversation.last_inbound_at = now - timedelta(minutes=21)
        ids[sender] = conversation.id
    tokens = {}
    for name, (role, creditors) in PEOPLE.items():
        user = create_user(session, f"{name}@acuerdo.example", PASSWORD, role, creditors, now=now)
        tokens[name], _ = issue_token(session, user, address="127.0.0.1", now=now)
    session.commit()
    return Desk(ana=ids[ANA], camila=ids[CAMILA], tokens=tokens)


@pytest.fixture
def api(stripe_env: pytest.MonkeyPatch) -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client
