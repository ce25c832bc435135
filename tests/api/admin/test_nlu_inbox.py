"""The NLU inbox: real messages the real model was unsure of, redacted, accepted or relabelled into the files.

The model is the trained one behind the test Rasa server (the embedded stack); messages are stored as the
gateway stores them, and a hand-off within minutes of a message always brings it to the inbox.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.admin import inbox
from bot.ledger.models import Direction, InboxItem, Message, MessageStatus
from bot.messaging.conversations import get_or_create_conversation, request_handoff
from bot.messaging.dialogue import RasaDialogue
from bot.messaging.outbox import store_outbound
from scripts.servers import Servers
from tests.api.admin.conftest import auth
from tests.conftest import TOKEN

pytestmark = pytest.mark.e2e
NOW = datetime.now(UTC)
CARD = "me cobraron en la tarjeta 4111 1111 1111 1111 un cargo que no reconozco, que es eso??"
IDENTITY = "1234"
GREETING = "hola buenos dias"


def inbound(session: Session, sender: str, text: str, at: datetime) -> Message:
    conversation = get_or_create_conversation(session, sender)
    message = Message(conversation_id=conversation.id, direction=Direction.INBOUND, channel=conversation.channel,
                      body=text, status=MessageStatus.PROCESSED, created_at=at, updated_at=at)
    session.add(message)
    session.flush()
    return message


@pytest.fixture
def filled_inbox(session: Session, bot_servers: Servers) -> dict[str, int]:
    earlier = NOW - timedelta(minutes=30)
    card = inbound(session, "whatsapp:+525511110001", CARD, earlier)
    request_handoff(session, "whatsapp:+525511110001", "debtor_request", earlier + timedelta(minutes=1))
    asked = get_or_create_conversation(session, "whatsapp:+525511110002")
    store_outbound(session, asked, "Para verificar tu identidad, ¿me dices los últimos 4 dígitos de tu INE?",
                   earlier - timedelta(seconds=30), status=MessageStatus.SENT)
    identity = inbound(session, "whatsapp:+525511110002", IDENTITY, earlier)
    request_handoff(session, "whatsapp:+525511110002", "identity_failed", earlier + timedelta(minutes=1))
    greeting = inbound(session, "whatsapp:+525511110003", GREETING, earlier)
    recent = inbound(session, "whatsapp:+525511110004", "no entiendo nada de esto", NOW)  # too fresh to judge
    parser = RasaDialogue(bot_servers.rasa_url, 30, token=TOKEN)
    assert inbox.refresh(session, parser, NOW) >= 1
    session.commit()
    return {"card": card.id, "identity": identity.id, "greeting": greeting.id, "recent": recent.id}


def test_only_unsure_messages_enter_and_nothing_personal_does(session: Session, filled_inbox: dict[str, int]) -> None:
    items = {item.message_id: item for item in session.scalars(select(InboxItem))}
    assert filled_inbox["card"] in items  # a person had to take over: the model did not help
    assert filled_inbox["identity"] not in items  # an identity answer is never taken
    assert filled_inbox["greeting"] not in items  # understood, and nobody had to step in
    assert filled_inbox["recent"] not in items  # looked at once a hand-off would have shown
    card = items[filled_inbox["card"]]
    assert inbox.REDACTED in card.text and not re.search(r"\d{4}", card.text)
    checked = session.scalar(select(Message.inbox_checked_at).where(Message.id == filled_inbox["greeting"]))
    assert checked is not None  # asked once, never again


def test_admins_relabel_and_dismiss_supervisors_only_look(
        api: TestClient, tokens: dict[str, str], filled_inbox: dict[str, int], project: Path,
        session: Session) -> None:
    item_id = session.scalar(select(InboxItem.id).where(InboxItem.message_id == filled_inbox["card"]))
    listed = api.get("/api/admin/nlu/inbox", headers=auth(tokens, "supervisor"))
    assert listed.status_code == 200 and item_id in [item["id"] for item in listed.json()["items"]]
    assert sum(listed.json()["waiting_by_intent"].values()) == len(listed.json()["items"])
    assert api.get("/api/admin/nlu/inbox", headers=auth(tokens, "agent")).status_code == 403
    assert api.post(f"/api/admin/nlu/inbox/{item_id}/dismiss", headers=auth(tokens, "supervisor")).status_code == 403

    admin = auth(tokens, "admin")
    hidden = api.post(f"/api/admin/nlu/inbox/{item_id}/accept", json={"intent": "dispute_debt"}, headers=admin)
    assert hidden.status_code == 422 and "dígitos ocultos" in hidden.json()["detail"]["message"]
    text = "me cobraron en la tarjeta un cargo que no reconozco, que es eso??"
    relabelled = api.post(f"/api/admin/nlu/inbox/{item_id}/accept", json={"intent": "dispute_debt", "text": text},
                          headers=admin)
    assert relabelled.status_code == 200 and relabelled.json()["status"] == "relabelled"
    assert any(f"    - {text}\n" in path.read_text(encoding="utf-8") for path in (project / "nlu").glob("*.yml"))
    again = api.post(f"/api/admin/nlu/inbox/{item_id}/dismiss", headers=admin)
    assert again.status_code == 422  # already decided
    history = api.get("/api/admin/history", headers=admin).json()
    assert history[0]["after"]["text"] == text and history[0]["after"]["intent"] == "dispute_debt"
