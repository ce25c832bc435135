"""Shared fixtures.

Every unit test gets its own migrated SQLite database (nothing touches var/). Tests that need the bot
share one real action server and one real Rasa server (REST channel) for the whole run, on their own
seeded database; they start only when a test asks for them.
"""
from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

import api.deps
from api.main import create_app

from bot.portfolio import import_portfolio_text
from bot.rasa_model import active_model, model_path
from bot.settings import get_settings
from bot.storage.db import migrate, reset_engines, session_scope
from scripts import servers
from tests.factories import portfolio, row
from tests.fakes.twilio_api import FakeTwilio


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


# --- the real bot ------------------------------------------------------------------------------------

TOKEN = "e2e-token"

E2E_PORTFOLIO = portfolio(
    row("E-MX-1", "María Fernanda López", "55 1234 5678", "5544332211", "1985-03-12", "MX", "AUR-90001",
        "banco-aurora", "Tarjeta de crédito", "MXN", "12500.00", "1830.55", "350.00", 45),
    row("E-CL-1", "Camila Soto Fuentes", "9 8765 4321", "12.345.678-5", "1992-02-14", "CL", "FDN-30021",
        "finanzas-norte", "Crédito de consumo", "CLP", "1250000", "187500", "12000", 149),
    row("E-MX-2", "Juan Carlos Pérez", "33 2345 6789", "7788990011", "1990-07-01", "MX", "FDN-10442",
        "finanzas-norte", "Préstamo personal", "MXN", "4800.00", "620.40", "0.00", 6),
    row("E-CO-1", "Andrés Gómez", "300 123 4567", "1020304050", "1988-11-23", "CO", "TAN-55120",
        "telco-andina", "Plan móvil", "COP", "385000.00", "0.00", "25000.00", 82),
    row("E-MX-3", "Sofía Hernández", "55 8765 4321", "1122334455", "1995-06-15", "MX", "AUR-70777",
        "banco-aurora", "Tarjeta de crédito", "MXN", "3200.00", "410.10", "0.00", 12),
    row("E-PE-1", "José Quispe", "987 654 321", "45678912", "1979-09-09", "PE", "TAN-81234",
        "telco-andina", "Plan hogar", "PEN", "890.50", "45.20", "15.00", -9),
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def e2e_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'acuerdo.db'}"
    migrate(url)
    with session_scope(url) as session:
        report = import_portfolio_text(session, E2E_PORTFOLIO)
    assert not report.errors, report.errors
    return url


@pytest.fixture(scope="session")
def bot_servers(e2e_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Servers]:
    model = active_model()
    if model is None or model != model_path():
        pytest.fail(f"the trained model for the current inputs is missing ({model_path().name}): "
                    "`make test` trains it (`make model`)")
    running = servers.start(model, free_port(), free_port(), env={"DATABASE_URL": e2e_database_url},
                            log_dir=tmp_path_factory.mktemp("logs"), token=TOKEN)
    yield running
    running.stop()


class Chat:
    """A debtor typing into the REST channel, as the gateway will."""

    def __init__(self, rasa_url: str, sender: str) -> None:
        self.rasa_url = rasa_url
        self.sender = sender

    def say(self, text: str) -> list[str]:
        response = httpx.post(f"{self.rasa_url}/webhooks/rest/webhook",
                              json={"sender": self.sender, "message": text}, timeout=60)
        response.raise_for_status()
        return [message.get("text", "") for message in response.json()]


@pytest.fixture
def chat(bot_servers: servers.Servers):  # type: ignore[no-untyped-def]
    def open_chat(sender: str) -> Chat:
        return Chat(bot_servers.rasa_url, sender)
    return open_chat


@pytest.fixture
def ledger_url(e2e_database_url: str) -> Iterator[str]:
    """Read what the action server wrote."""
    yield e2e_database_url
    reset_engines()


# --- the app, wired to the real bot, the shared ledger and a fake Twilio API ------------------------------

PUBLIC_BASE_URL = "https://acuerdo.example"
AUTH_TOKEN = "test-twilio-auth-token"


@pytest.fixture(scope="session")
def fake_twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, e2e_database_url: str, bot_servers: servers.Servers,
            fake_twilio: FakeTwilio) -> Iterator[pytest.MonkeyPatch]:
    for key, value in {"DATABASE_URL": e2e_database_url, "RASA_URL": bot_servers.rasa_url,
                       "PUBLIC_BASE_URL": PUBLIC_BASE_URL, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                       "TWILIO_API_BASE": fake_twilio.url, "REPLY_MODE": "twiml"}.items():
        monkeypatch.setenv(key, value)
    _refresh()
    fake_twilio.sent.clear()
    yield monkeypatch
    _refresh()


def _refresh() -> None:
    get_settings.cache_clear()
    reset_engines()
    api.deps.reset()


@pytest.fixture
def client(app_env: pytest.MonkeyPatch) -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture
def rest_mode_client(app_env: pytest.MonkeyPatch) -> Iterator[TestClient]:
    app_env.setenv("REPLY_MODE", "rest")
    _refresh()
    with TestClient(create_app()) as test_client:
        yield test_client
