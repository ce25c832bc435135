"""The demo plays only the demo portfolio, and nobody can borrow a real debtor's identity through it."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.deps import get_gateway
from bot.ledger.db import session_scope
from bot.ledger.models import Conversation, MessageStatus
from bot.messaging.gateway import Inbound
from bot.tools.demo import DEMO_STRANGER
from tests.api.conftest import signed_post, twiml_messages, whatsapp_form
from tests.conftest import Stack
from tests.expected import ASK, NEED

pytestmark = pytest.mark.e2e

ELENA = "+525566667777"  # a real debtor (E-MX-8): document …3322


def test_the_demo_lists_only_demo_debtors(client: TestClient) -> None:
    listed = client.get("/demo/api/debtors").json()
    assert sorted(d["name"] for d in listed["debtors"]) == ["Ricardo Núñez", "Sofía Hernández"]
    assert all(d["phone"] != ELENA for d in listed["debtors"])


def test_a_debtor_verified_on_whatsapp_cannot_be_played_on_the_demo(client: TestClient, stack: Stack) -> None:
    replies = twiml_messages(signed_post(client, "/webhooks/twilio/whatsapp", whatsapp_form(ELENA, "cuanto debo")))
    assert replies == [NEED, ASK]
    replies = twiml_messages(signed_post(client, "/webhooks/twilio/whatsapp", whatsapp_form(ELENA, "3322")))
    assert any("Total: $2,250.00" in reply for reply in replies)  # Elena herself, on WhatsApp, verified

    # The demo page refuses her number outright, and stores nothing for it.
    for attempt in ("cuánto debo?", "3322"):
        response = client.post("/demo/api/messages", json={"phone": ELENA, "text": attempt})
        assert response.status_code == 403
    assert client.get("/demo/api/notices", params={"phone": ELENA}).status_code == 403
    with session_scope(stack.database_url) as session:
        assert session.scalar(select(Conversation).where(Conversation.sender_id == f"demo:{ELENA}")) is None


def test_the_demo_channel_itself_never_borrows_a_verification(client: TestClient) -> None:
    """Even past the page's check, the demo channel sees only demo debtors: Elena's number is a stranger there."""
    gateway = get_gateway()
    on_whatsapp: list[str] = []
    for text in ("cuanto debo", "3322"):  # (already verified if an earlier test ran: the balance comes first)
        on_whatsapp += gateway.receive(Inbound(channel="whatsapp", sender=ELENA, body=text), MessageStatus.SENT)[1]
    assert any("Total: $2,250.00" in reply for reply in on_whatsapp)
    _, replies = gateway.receive(Inbound(channel="demo", sender=ELENA, body="cuánto debo?"), MessageStatus.SENT)
    assert replies == [NEED, ASK]
    _, replies = gateway.receive(Inbound(channel="demo", sender=ELENA, body="3322"), MessageStatus.SENT)
    text = " ".join(replies)
    assert "Elena" not in text and "$" not in text and "Banco Aurora" not in text


def test_the_demo_plays_its_own_numbers(client: TestClient) -> None:
    response = client.post("/demo/api/messages", json={"phone": DEMO_STRANGER, "text": "cuánto debo?"})
    assert response.status_code == 200
    assert response.json()["replies"] == [NEED, ASK]
    assert client.post("/demo/api/messages", json={"phone": "no soy un número", "text": "hola"}).status_code == 422
