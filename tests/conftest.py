"""Shared fixtures.

- Unit tests get their own migrated database, on SQLite and on a real PostgreSQL server (every test that
  takes `session` or `database_url` runs on both). Nothing touches var/.
- Tests that need the bot share real servers, started once per run and only when asked for:
  the *embedded* stack (SQLite, no Redis, Rasa's in-memory tracker: the demo) and the *production* stack
  (PostgreSQL, Redis locks and de-duplication, Rasa's Redis tracker and lock stores). Gateway tests run on
  both (`stack`).
"""
from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

import api.deps
from api.main import create_app
from bot.admin.rasa_model import active_model, model_path
from bot.common.settings import PROJECT_ROOT, get_settings
from bot.ledger.db import migrate, reset_engines, session_scope
from bot.ledger.portfolio import import_portfolio_text
from bot.tools.demo import mark_demo
from scripts import servers
from scripts.services import Postgres, Redis, free_port, start_postgres, start_redis
from tests.factories import portfolio, row
from tests.fakes.stripe_api import FakeStripe
from tests.fakes.twilio_api import FakeTwilio

TOKEN = "e2e-token"
PUBLIC_BASE_URL = "https://acuerdo.example"
AUTH_TOKEN = "test-twilio-auth-token"
STRIPE_SECRET = "whsec_test_secret_for_acuerdo"
_database_names = itertools.count()


# --- databases -----------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    server = start_postgres()
    yield server
    server.stop()


def create_database(server: Postgres, name: str, template: str | None = None) -> str:
    engine = create_engine(server.admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    engine.dispose()
    return server.url(name)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once, copy per test: a fresh database without paying for Alembic every time."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_template(postgres: Postgres) -> str:
    migrate(create_database(postgres, "acuerdo_template"))
    reset_engines()
    return "acuerdo_template"


# `make unit` sets ACUERDO_TEST_DATABASES=sqlite for a fast inner loop; the full suite runs on both.
TEST_DATABASES = os.environ.get("ACUERDO_TEST_DATABASES", "sqlite,postgresql").split(",")


@pytest.fixture(params=TEST_DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "acuerdo.db"
        path.write_bytes(request.getfixturevalue("_sqlite_template").read_bytes())
        url = f"sqlite:///{path}"
    else:
        template = request.getfixturevalue("_postgres_template")
        url = create_database(request.getfixturevalue("postgres"), f"test_{next(_database_names)}", template)
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


@pytest.fixture
def training_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the training files (data/nlu, domain.yml) for the admin pages to edit, never the project's."""
    shutil.copytree(PROJECT_ROOT / "data" / "nlu", tmp_path / "nlu")
    shutil.copy(PROJECT_ROOT / "domain.yml", tmp_path / "domain.yml")
    monkeypatch.setenv("TRAINING_DATA_DIR", str(tmp_path / "nlu"))
    monkeypatch.setenv("DOMAIN_FILE", str(tmp_path / "domain.yml"))
    get_settings.cache_clear()
    return tmp_path


# --- the real bot -------------------------------------------------------------------------------------

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
        "banco-aurora", "Tarjeta de crédito", "MXN", "3200.00", "410.10", "0.00", 12),  # demo (browser tests)
    row("E-MX-4", "Diego Ramírez", "55 1111 2222", "9988776655", "1987-04-02", "MX", "AUR-40404",
        "banco-aurora", "Préstamo personal", "MXN", "8000.00", "900.00", "150.00", 20),
    row("E-CL-2", "Valentina Rojas", "9 8111 2222", "15.555.666-7", "1991-08-08", "CL", "FDN-20002",
        "finanzas-norte", "Crédito de consumo", "CLP", "900000", "120000", "8000", 200),
    row("E-AR-2", "Martín Gómez", "011 15-3333-4444", "28111222", "1980-01-20", "AR", "AUR-AR-303",
        "banco-aurora", "Tarjeta de crédito", "ARS", "300000.00", "45000.00", "5000.00", 40),
    row("E-PE-2", "Rosa Flores", "987 111 222", "41112222", "1984-03-03", "PE", "TAN-PE-505",
        "telco-andina", "Plan móvil", "PEN", "420.00", "30.00", "10.00", 10),
    row("E-MX-5", "Laura Torres", "55 2222 3333", "5566778899", "1993-10-10", "MX", "FDN-50505",
        "finanzas-norte", "Préstamo personal", "MXN", "6000.00", "500.00", "0.00", 15),
    row("E-MX-6", "Paula Méndez", "55 3333 4444", "3344556677", "1989-05-05", "MX", "AUR-60606",
        "banco-aurora", "Préstamo personal", "MXN", "2500.00", "180.00", "0.00", 10),  # pays in full (payments e2e)
    row("E-MX-7", "Ricardo Núñez", "55 4444 5555", "4455667788", "1983-12-01", "MX", "AUR-70707",
        "banco-aurora", "Tarjeta de crédito", "MXN", "1500.00", "95.50", "0.00", 8),  # demo: pays on the demo page
    row("E-MX-8", "Elena Castro", "55 6666 7777", "6655443322", "1986-02-02", "MX", "AUR-80808",
        "banco-aurora", "Tarjeta de crédito", "MXN", "2100.00", "150.00", "0.00", 30),  # real: not for the demo
    row("E-MX-9", "Gabriela Ortiz", "55 7777 8888", "7766554433", "1990-09-19", "MX", "AUR-90909",
        "banco-aurora", "Préstamo personal", "MXN", "9000.00", "800.00", "200.00", 35),  # the agent hand-off loop
    row("E-MX-10", "Tomás Vega", "55 8888 9999", "1029384756", "1991-01-31", "MX", "AUR-10101",
        "banco-aurora", "Préstamo personal", "MXN", "7000.00", "500.00", "100.00", 25),  # the agent console (browser)
    row("E-MX-11", "Lucía Romero", "55 9999 0101", "2233445566", "1994-04-04", "MX", "AUR-11111",
        "banco-aurora", "Préstamo personal", "MXN", "6000.00", "450.00", "50.00", 20),  # questions (issue 17)
    row("E-CO-2", "Carlos Ruiz", "301 222 3333", "1098765432", "1985-08-08", "CO", "TAN-22222",
        "telco-andina", "Plan móvil", "COP", "250000.00", "0.00", "15000.00", 40),  # "ya pagué" while waiting
    row("E-AR-3", "Sofía Paz", "011 15-4444-5555", "30222333", "1990-10-10", "AR", "AUR-AR-404",
        "banco-aurora", "Tarjeta de crédito", "ARS", "200000.00", "30000.00", "2000.00", 30),  # voseo
    # issue 18: negotiation that listens (tests/api/test_negotiation_listening.py), one debtor per case
    row("E-CL-3", "Ignacio Muñoz", "9 8222 3333", "16.777.888-7", "1987-07-07", "CL", "FDN-30303",
        "finanzas-norte", "Crédito de consumo", "CLP", "1200000", "150000", "10000", 60),
    row("E-MX-12", "Fernanda Ruiz", "55 1212 0000", "6677889900", "1992-12-12", "MX", "AUR-12121",
        "banco-aurora", "Préstamo personal", "MXN", "9000.00", "800.00", "200.00", 45),
    row("E-AR-4", "Lucas Benítez", "011 15-5555-6666", "31222444", "1993-03-03", "AR", "AUR-AR-505",
        "banco-aurora", "Tarjeta de crédito", "ARS", "150000.00", "20000.00", "0.00", 20),
    row("E-MX-13", "Andrea Silva", "55 1313 0000", "8877665544", "1996-06-06", "MX", "AUR-13131",
        "banco-aurora", "Tarjeta de crédito", "MXN", "5000.00", "600.00", "100.00", 40),
    row("E-MX-14", "Héctor Luna", "55 1414 0000", "4433221100", "1982-02-02", "MX", "AUR-14141",
        "banco-aurora", "Préstamo personal", "MXN", "2500.00", "180.00", "0.00", 10),
    row("E-CL-4", "Francisca Díaz", "9 8444 5555", "17.222.333-8", "1989-09-09", "CL", "FDN-40404",
        "finanzas-norte", "Crédito de consumo", "CLP", "900000", "120000", "8000", 200),
    row("E-PE-3", "Carmen Vargas", "987 333 444", "42223333", "1985-05-05", "PE", "TAN-PE-333",
        "telco-andina", "Plan móvil", "PEN", "600.00", "40.00", "10.00", 20),
    row("E-CO-3", "Juliana Restrepo", "302 333 4444", "1033445566", "1994-04-14", "CO", "AUR-CO-333",
        "banco-aurora", "Tarjeta de crédito", "COP", "1650000.00", "150000.00", "0.00", 50),
    row("E-PE-4", "Jorge Huamán", "987 444 555", "43334444", "1988-08-08", "PE", "TAN-PE-444",  # conversation review
        "telco-andina", "Plan móvil", "PEN", "380.00", "20.00", "5.00", 30),
    row("E-MX-15", "Rocío Campos", "55 1515 0000", "5151515151", "1990-05-15", "MX", "AUR-15151",  # model switch:
        "banco-aurora", "Préstamo personal", "MXN", "4000.00", "350.00", "0.00", 20),  # mid-verification
    row("E-MX-16", "Mateo Rivas", "55 1616 0000", "6161616161", "1986-06-16", "MX", "AUR-16161",  # and chatting
        "banco-aurora", "Préstamo personal", "MXN", "5000.00", "400.00", "0.00", 20),
    row("E-MX-17", "Olga Prieto", "55 1717 0000", "7171717171", "1984-07-17", "MX", "AUR-17171",  # paid at a branch
        "banco-aurora", "Préstamo personal", "MXN", "3000.00", "0.00", "0.00", 20),  # (external payments import)
    row("E-PE-1", "José Quispe", "987 654 321", "45678912", "1979-09-09", "PE", "TAN-81234",
        "telco-andina", "Plan hogar", "PEN", "890.50", "45.20", "15.00", -9),
)


@dataclass
class Stack:
    name: str
    database_url: str
    redis_url: str | None
    servers: servers.Servers


E2E_DEMO_DEBTORS = ["E-MX-3", "E-MX-7"]  # the demo plays only these; everyone else is a real debtor to it


def seed_database(url: str) -> None:
    migrate(url)
    with session_scope(url) as session:
        report = import_portfolio_text(session, E2E_PORTFOLIO)
        mark_demo(session, E2E_DEMO_DEBTORS)
    assert not report.errors, report.errors
    reset_engines()


def trained_model() -> Path:
    model = active_model()
    if model is None or model != model_path():
        pytest.fail(f"the trained model for the current inputs is missing ({model_path().name}): "
                    "`make test` trains it (`make model`)")
    return model


def start_stack(name: str, database_url: str, redis_url: str | None, log_dir: Path) -> Stack:
    seed_database(database_url)
    running = servers.start(trained_model(), free_port(), free_port(), env={"DATABASE_URL": database_url},
                            log_dir=log_dir, token=TOKEN, redis_url=redis_url)
    return Stack(name, database_url, redis_url, running)


@pytest.fixture(scope="session")
def embedded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    url = f"sqlite:///{tmp_path_factory.mktemp('embedded') / 'acuerdo.db'}"
    stack = start_stack("embedded", url, None, tmp_path_factory.mktemp("embedded-logs"))
    yield stack
    stack.servers.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Redis]:
    server = start_redis()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def production_stack(tmp_path_factory: pytest.TempPathFactory, postgres: Postgres,
                     redis_server: Redis) -> Iterator[Stack]:
    url = create_database(postgres, "e2e_production")
    stack = start_stack("production", url, redis_server.url, tmp_path_factory.mktemp("production-logs"))
    yield stack
    stack.servers.stop()


@pytest.fixture(params=["embedded", "production"])
def stack(request: pytest.FixtureRequest) -> Stack:
    return request.getfixturevalue(f"{request.param}_stack")


@pytest.fixture(scope="session")
def bot_servers(embedded_stack: Stack) -> servers.Servers:
    return embedded_stack.servers


@pytest.fixture(scope="session")
def e2e_database_url(embedded_stack: Stack) -> str:
    return embedded_stack.database_url


class Chat:
    """A debtor typing into the REST channel, as the gateway does."""

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


# --- the app, wired to a stack and a fake Twilio API ----------------------------------------------------

@pytest.fixture(scope="session")
def fake_twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe().start()
    yield fake
    fake.stop()


def refresh_app_state() -> None:
    get_settings.cache_clear()
    reset_engines()
    api.deps.reset()


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, stack: Stack, fake_twilio: FakeTwilio) -> Iterator[pytest.MonkeyPatch]:
    for key, value in {"DATABASE_URL": stack.database_url, "RASA_URL": stack.servers.rasa_url,
                       "PUBLIC_BASE_URL": PUBLIC_BASE_URL, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                       "TWILIO_API_BASE": fake_twilio.url, "REPLY_MODE": "twiml",
                       "STRIPE_WEBHOOK_SECRET": STRIPE_SECRET, "PAYMENT_PROVIDER": "sandbox", "DEMO_ENABLED": "true",
                       "RETRY_INTERVAL_SECONDS": "3600",  # tests run the retry pass themselves
                       "RASA_TOKEN": TOKEN}.items():
        monkeypatch.setenv(key, value)
    if stack.redis_url:
        monkeypatch.setenv("REDIS_URL", stack.redis_url)
    else:
        monkeypatch.delenv("REDIS_URL", raising=False)
    refresh_app_state()
    fake_twilio.sent.clear()
    yield monkeypatch
    refresh_app_state()


@pytest.fixture
def stripe_env(monkeypatch: pytest.MonkeyPatch, database_url: str, fake_twilio: FakeTwilio,
               fake_stripe: FakeStripe) -> Iterator[pytest.MonkeyPatch]:
    """The app on a unit-test database with Stripe as the provider (a local fake behind the official SDK)."""
    for key, value in {"DATABASE_URL": database_url, "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
                       "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_BASE": fake_twilio.url,
                       "PAYMENT_PROVIDER": "stripe", "STRIPE_API_BASE": fake_stripe.url,
                       "STRIPE_API_KEY": "sk_test_acuerdo", "STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
                       "RETRY_INTERVAL_SECONDS": "3600"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("REDIS_URL", raising=False)
    refresh_app_state()
    fake_twilio.sent.clear()
    fake_stripe.reset()
    yield monkeypatch
    refresh_app_state()


@pytest.fixture
def client(app_env: pytest.MonkeyPatch) -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture
def rest_mode_client(app_env: pytest.MonkeyPatch) -> Iterator[TestClient]:
    app_env.setenv("REPLY_MODE", "rest")
    refresh_app_state()
    with TestClient(create_app()) as test_client:
        yield test_client
