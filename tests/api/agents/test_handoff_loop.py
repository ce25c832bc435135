"""The whole hand-off loop with the real bot, through signed Twilio webhooks and the fake Twilio API, on both
stacks: the debtor asks for a person → queue → claim → the agent's reply reaches Twilio → the debtor's next
message never reaches Rasa → an offer outside the agent's limits gets the reasons, one inside produces the
agreement and a link → back to the bot, which answers again; then a closed WhatsApp window: 409, a template goes.
"""
from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from bot.agents.users import create_user, issue_token
from bot.ledger.db import session_scope
from bot.ledger.models import Conversation, Role, utcnow
from bot.messaging.conversations import handoff_eta, request_handoff
from tests.api.conftest import signed_post, twiml_messages, whatsapp_form
from tests.conftest import TOKEN, Stack
from tests.expected import ASK
from tests.factories import local_today
from tests.fakes.twilio_api import FakeTwilio

pytestmark = pytest.mark.e2e

NUMBER, SENDER = "+5215577778888", "whatsapp:+525577778888"  # Gabriela Ortiz, Banco Aurora, 10,000.00 MXN


def say(client: TestClient, text: str) -> list[str]:
    return twiml_messages(signed_post(client, "/webhooks/twilio/whatsapp", whatsapp_form(NUMBER, text)))


def rasa_events(stack: Stack) -> list[dict[str, Any]]:
    response = httpx.get(f"{stack.servers.rasa_url}/conversations/{SENDER}/tracker",
                         params={"token": TOKEN, "include_events": "ALL"}, timeout=30)
    response.raise_for_status()
    return list(response.json()["events"])


def agent_token(stack: Stack) -> dict[str, str]:
    with session_scope(stack.database_url) as session:
        user = create_user(session, f"laura-{uuid.uuid4().hex[:8]}@acuerdo.example", "una clave larga de prueba",
                           Role.AGENT, ["banco-aurora"], now=utcnow())
        token, _ = issue_token(session, user, address="127.0.0.1", now=utcnow())
    return {"Authorization": f"Bearer {token}"}


def sent_to_debtor(fake_twilio: FakeTwilio) -> list[dict[str, str]]:
    return [message for message in fake_twilio.sent if message["To"] == SENDER]


def test_handoff_claim_reply_offer_and_back_to_the_bot(client: TestClient, stack: Stack,
                                                       fake_twilio: FakeTwilio) -> None:
    assert say(client, "hola")[-1] == ASK
    assert say(client, "4433")[0].startswith("¡Gracias, Gabriela!")
    assert say(client, "quiero hablar con una persona") == [
        "Listo, te comunico con una persona de nuestro equipo. Te escribirá por este mismo chat "
        f"{handoff_eta('MX', utcnow())}."]
    agent = agent_token(stack)

    queue = client.get("/api/agent/queue", headers=agent).json()
    entry = next(item for item in queue if "Gabriela Ortiz" in item["summary"])
    assert (entry["reason"], entry["amount"], entry["currency"], entry["overdue"]) == (
        "debtor_request", "10000.00", "MXN", False)
    assert "quiero hablar con una persona" in entry["summary"] and entry["whatsapp_window_seconds_left"] > 23 * 3600
    conversation = f"/api/agent/conversations/{entry['id']}"
    assert client.post(f"{conversation}/claim", headers=agent).status_code == 200

    greeting = "Hola Gabriela, soy Laura. ¿En qué te puedo ayudar?"
    assert client.post(f"{conversation}/messages", json={"text": greeting}, headers=agent).status_code == 202
    assert sent_to_debtor(fake_twilio)[-1]["Body"] == greeting

    before = rasa_events(stack)
    assert say(client, "quiero pagar en cuotas, tengo 1000 ahorita") == []  # stored for the agent, no bot answer
    assert len([e for e in rasa_events(stack) if e["event"] == "user"]) == len(
        [e for e in before if e["event"] == "user"])
    assert [(c["id"], c["unread"]) for c in client.get("/api/agent/mine", headers=agent).json()] == [
        (entry["id"], 1)]  # the agent is told there is something to answer
    transcript = client.get(conversation, headers=agent).json()["transcript"]
    assert [m["body"] for m in transcript if m["direction"] == "inbound"][-1] == \
        "quiero pagar en cuotas, tengo 1000 ahorita"
    account_id = client.get(conversation, headers=agent).json()["accounts"][0]["id"]

    first_date = (local_today("MX") + timedelta(days=5)).isoformat()
    refused = client.post(f"{conversation}/offers", headers=agent, json={
        "kind": "plan", "account_id": account_id, "installments": 30, "down_payment": "1000.00",
        "first_date": first_date})
    assert refused.status_code == 422
    assert refused.json()["detail"] == {"reason": "outside_policy", "reasons": ["too_many_installments"]}

    offered = client.post(f"{conversation}/offers", headers=agent, json={
        "kind": "plan", "account_id": account_id, "installments": 6, "down_payment": "1000.00",
        "first_date": first_date})
    assert offered.status_code == 201, offered.text
    offer = offered.json()
    assert offer["payment_url"].startswith("https://pagos.bancoaurora.example/p/") and offer["agreement_url"]
    assert offer["amount"] == "1000.00"  # the down payment, due first
    told = sent_to_debtor(fake_twilio)[-1]["Body"]
    assert offer["payment_url"] in told and offer["agreement_url"] in told and "6 cuotas" in told
    plans = client.get(conversation, headers=agent).json()["plans"]
    assert (plans[-1]["status"], len(plans[-1]["installments"])) == ("pending", 7)  # the down payment and 6
    assert plans[-1]["created_by"].startswith("user:")

    returned = client.post(f"{conversation}/return", headers=agent)
    assert returned.status_code == 200 and returned.json()["mode"] == "bot"
    again = say(client, "cuánto debo?")
    assert again[0] == "Gabriela, este es tu saldo al día de hoy:"  # the bot, verified, with no digits asked
    events = rasa_events(stack)
    assert any(e["event"] == "restart" for e in events)  # a fresh dialogue, no stale hand-off state
    assert client.get(conversation, headers=agent).json()["handoffs"][-1]["ending"] == "returned"

    # a day later the WhatsApp window is closed: free text is refused with the templates that may go instead
    with session_scope(stack.database_url) as session:
        row = session.scalars(select(Conversation).where(Conversation.sender_id == SENDER)).one()
        request_handoff(session, SENDER, "callback", utcnow())
        session.execute(update(Conversation).where(Conversation.id == row.id)
                        .values(last_inbound_at=utcnow() - timedelta(hours=25)))
    closed = client.post(f"{conversation}/messages", json={"text": "¿Sigues ahí?"}, headers=agent)
    assert closed.status_code == 409
    detail = closed.json()["detail"]
    assert detail["reason"] == "whatsapp_window_closed"
    assert {"template": "reopen_conversation", "variables": ["first_name"]} in detail["templates"]
    template = client.post(f"{conversation}/messages", headers=agent,
                           json={"template": "reopen_conversation", "variables": {"first_name": "Gabriela"}})
    assert template.status_code == 202, template.text
    last = sent_to_debtor(fake_twilio)[-1]
    assert last["ContentSid"] == "HX11110000000000000000000000000000"
    assert json.loads(last["ContentVariables"]) == {"1": "Gabriela"}
