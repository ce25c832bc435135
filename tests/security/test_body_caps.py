"""Bodies are capped before anything parses them: an oversized Twilio webhook gets 413 and nothing is stored."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.main import create_app
from bot.common.settings import get_settings
from bot.ledger.db import session_scope
from bot.ledger.models import Message
from tests.api.conftest import signed_post, whatsapp_form
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL


@pytest.fixture
def app_client(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("PUBLIC_BASE_URL", PUBLIC_BASE_URL)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("RETRY_INTERVAL_SECONDS", "3600")
    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        yield client
    get_settings.cache_clear()


def stored_messages(url: str) -> int:
    with session_scope(url) as session:
        return session.scalar(select(func.count()).select_from(Message))


def test_an_oversized_twilio_webhook_is_refused_before_it_is_read(app_client: TestClient, database_url: str) -> None:
    form = whatsapp_form("+5215500000900", "x" * (70 * 1024))  # correctly signed, only too big
    response = signed_post(app_client, "/webhooks/twilio/whatsapp", form)
    assert response.status_code == 413
    assert stored_messages(database_url) == 0


def test_an_oversized_chunked_twilio_webhook_is_refused(app_client: TestClient, database_url: str) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the app must count as it reads
        yield b"From=whatsapp%3A%2B5215500000901&Body="
        for _ in range(80):
            yield b"y" * 1024
    response = app_client.post("/webhooks/twilio/whatsapp", content=chunks(),
                               headers={"Content-Type": "application/x-www-form-urlencoded",
                                        "X-Twilio-Signature": "irrelevant"})
    assert response.status_code == 413
    assert stored_messages(database_url) == 0


def test_a_webhook_just_under_the_cap_still_reaches_the_signature_check(app_client: TestClient) -> None:
    form = whatsapp_form("+5215500000902", "z" * (60 * 1024))
    response = app_client.post("/webhooks/twilio/whatsapp", data=form, headers={"X-Twilio-Signature": "forged"})
    assert response.status_code == 403  # read and checked, refused for its signature, not its size
