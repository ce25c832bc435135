"""Production refuses demo settings and placeholder secrets: each problem alone stops every entry point."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from bot.agents.users import create_user, issue_token
from bot.common.settings import PROJECT_ROOT, UnsafeSettings, check_settings, get_settings
from bot.ledger.db import migrate, session_scope
from bot.ledger.models import utcnow


def safe_production(database: Path) -> dict[str, str]:
    """Settings a real deployment could use: every secret long and random, Stripe, https, no demo."""
    return {
        "ACUERDO_ENV": "production", "DEMO_ENABLED": "false", "PAYMENT_PROVIDER": "stripe",
        "DATABASE_URL": f"sqlite:///{database}", "PUBLIC_BASE_URL": "https://cobranza.example",
        "TWILIO_ACCOUNT_SID": "AC" + secrets.token_hex(16), "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
        "STRIPE_API_KEY": "sk_live_" + secrets.token_urlsafe(40),
        "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_urlsafe(32),
        "LINK_SIGNING_SECRET": secrets.token_urlsafe(40), "RASA_TOKEN": secrets.token_urlsafe(40),
    }


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = safe_production(tmp_path / "acuerdo.db")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("REDIS_URL", "LINK_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


# (setting, unsafe value, the words the refusal must use)
UNSAFE = [
    ("DEMO_ENABLED", "true", "DEMO_ENABLED"),
    ("PAYMENT_PROVIDER", "sandbox", "PAYMENT_PROVIDER is sandbox"),
    ("TWILIO_AUTH_TOKEN", "", "TWILIO_AUTH_TOKEN is empty"),
    ("TWILIO_AUTH_TOKEN", "dev-twilio-auth-token", "TWILIO_AUTH_TOKEN is a placeholder"),
    ("TWILIO_AUTH_TOKEN", "0123456789abcdef", "TWILIO_AUTH_TOKEN is shorter than 32"),
    ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000", "TWILIO_ACCOUNT_SID is a placeholder"),
    ("STRIPE_API_KEY", "sk_test_dev", "STRIPE_API_KEY is a placeholder"),
    ("STRIPE_API_KEY", "", "STRIPE_API_KEY is empty"),
    ("STRIPE_WEBHOOK_SECRET", "whsec_dev", "STRIPE_WEBHOOK_SECRET is a placeholder"),
    ("STRIPE_WEBHOOK_SECRET", "whsec_short", "STRIPE_WEBHOOK_SECRET is shorter than 32"),
    ("LINK_SIGNING_SECRET", "dev-link-signing-secret", "LINK_SIGNING_SECRET is a placeholder"),
    ("LINK_SIGNING_SECRET", "twelve-chars", "LINK_SIGNING_SECRET is shorter than 32"),
    ("RASA_TOKEN", "acuerdo-dev-token", "RASA_TOKEN is a placeholder"),
    ("PUBLIC_BASE_URL", "http://cobranza.example", "PUBLIC_BASE_URL is not https"),
    ("LINK_BASE_URL", "http://127.0.0.1:8000", "LINK_BASE_URL is not https"),
]


@pytest.mark.parametrize(("setting", "value", "named"), UNSAFE, ids=[f"{s}={v or 'empty'}" for s, v, _ in UNSAFE])
def test_each_unsafe_setting_alone_stops_the_app(production: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                  setting: str, value: str, named: str) -> None:
    monkeypatch.setenv(setting, value)
    get_settings.cache_clear()
    with pytest.raises(UnsafeSettings) as refused:
        create_app()
    assert len(refused.value.problems) == 1, refused.value.problems
    assert named in refused.value.problems[0]


def test_defaults_are_development_and_safe_production_starts(production: dict[str, str],
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert check_settings("test").is_production
    warnings = capsys.readouterr().err  # one small process is legitimate: warned, not refused
    assert "SQLite" in warnings and "REDIS_URL" in warnings
    for key in production:
        monkeypatch.delenv(key)
    get_settings.cache_clear()
    defaults = get_settings()
    assert (defaults.acuerdo_env, defaults.demo_enabled, defaults.document_link_days) == ("development", False, 7)
    assert defaults.production_problems()  # the defaults would be refused in production


def test_production_serves_no_docs_schema_demo_or_sandbox(production: dict[str, str]) -> None:
    with TestClient(create_app()) as client:
        for path in ("/docs", "/redoc", "/openapi.json", "/demo", "/demo/api/debtors", "/sandbox/checkout/cs_x"):
            assert client.get(path).status_code == 404, path
        assert client.get("/healthz").status_code == 200
        # the schema is for admins only: anonymous 401, an agent 403
        migrate()
        with session_scope() as session:
            tokens = {role: issue_token(session, create_user(session, f"{role}@acuerdo.example", "x" * 16, role, [],
                                                             all_creditors=role != "admin", now=utcnow()),
                                        address=None, now=utcnow())[0] for role in ("agent", "admin")}
        assert client.get("/api/admin/openapi.json").status_code == 401
        as_agent = client.get("/api/admin/openapi.json", headers={"Authorization": f"Bearer {tokens['agent']}"})
        assert as_agent.status_code == 403
        schema = client.get("/api/admin/openapi.json", headers={"Authorization": f"Bearer {tokens['admin']}"})
        assert schema.status_code == 200 and "/api/agent/queue" in schema.json()["paths"]


def test_development_serves_docs_and_the_demo_only_when_enabled(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'dev.db'}")
    for key in ("ACUERDO_ENV", "DEMO_ENABLED"):
        monkeypatch.delenv(key, raising=False)
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/demo").status_code == 404  # DEMO_ENABLED defaults to false
    monkeypatch.setenv("DEMO_ENABLED", "true")
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        assert client.get("/demo").status_code == 200
    get_settings.cache_clear()


def run_entry_point(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {**{k: v for k, v in os.environ.items() if k not in env}, **env}
    return subprocess.run(command, cwd=PROJECT_ROOT, env=full_env, capture_output=True, text=True, timeout=120)


ENTRY_POINTS = {
    "app": [sys.executable, "-m", "uvicorn", "api.main:app", "--port", "0"],
    "action server": [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", "0"],
    "cli": [sys.executable, "-m", "bot.tools.cli", "migrate"],
}


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_every_process_refuses_to_start_with_one_clear_line_per_problem(production: dict[str, str],
                                                                        entry_point: str) -> None:
    unsafe = {**production, "DEMO_ENABLED": "true", "LINK_SIGNING_SECRET": "dev-link-signing-secret"}
    result = run_entry_point(ENTRY_POINTS[entry_point], unsafe)
    assert result.returncode != 0
    assert "refuses to start in production" in result.stderr
    assert "  - DEMO_ENABLED is true" in result.stderr
    assert "  - LINK_SIGNING_SECRET is a placeholder from the repository" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr[-2000:]


def test_the_cli_runs_with_safe_production_settings(production: dict[str, str]) -> None:
    result = run_entry_point(ENTRY_POINTS["cli"], production)
    assert result.returncode == 0, result.stderr
    assert "refuses" not in result.stderr and "warning: DATABASE_URL is SQLite" in result.stderr
