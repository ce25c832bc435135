"""A ledger with one Mexican and one Chilean debtor, each with a conversation whose WhatsApp window is open;
the app with Stripe as its provider; events delivered signed as Stripe signs them."""
from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.main import create_app
from bot.ledger.models import Account, Conversation, Debtor
from bot.ledger.portfolio import import_portfolio_text
from bot.messaging.conversations import get_or_create_conversation
from bot.payments.links import issue_link
from payments import provider_from_settings
from tests.conftest import STRIPE_SECRET
from tests.factories import ana_and_camila
from tests.fakes.stripe_api import stripe_signature

ANA = "whatsapp:+525512345678"
CAMILA = "whatsapp:+56987654321"


@pytest.fixture
def ledger(session: Session) -> Session:
    import_portfolio_text(session, ana_and_camila())
    for sender, debtor_id in ((ANA, "D1"), (CAMILA, "D2")):
        conversation = get_or_create_conversation(session, sender)
        conversation.debtor_id = session.scalars(select(Debtor.id).where(Debtor.external_id == debtor_id)).one()
        conversation.last_inbound_at = datetime.now(UTC) - timedelta(minutes=5)
    session.commit()
    return session


def account(session: Session, external_id: str) -> Account:
    return session.scalars(select(Account).where(Account.external_id == external_id)).one()


def conversation(session: Session, sender: str) -> Conversation:
    return session.scalars(select(Conversation).where(Conversation.sender_id == sender)).one()


@pytest.fixture
def app(stripe_env: pytest.MonkeyPatch) -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


def deliver(client: TestClient, event: dict[str, Any], *, secret: str = STRIPE_SECRET,
            timestamp: int | None = None, tamper: bool = False) -> Any:
    raw = json.dumps(event).encode()
    header = stripe_signature(raw, secret, timestamp or int(time.time()))
    if tamper:
        raw = raw.replace(b'"amount_total": ', b'"amount_total": 1')
    return client.post("/webhooks/stripe", content=raw,
                       headers={"Stripe-Signature": header, "Content-Type": "application/json"})


def new_link(ledger: Session, external_id: str, sender: str, purpose: str = "full", **kwargs: Any) -> str:
    issued = issue_link(ledger, provider_from_settings(), account(ledger, external_id), purpose,  # type: ignore[arg-type]
                        datetime.now(UTC), conversation=conversation(ledger, sender), **kwargs)
    ledger.commit()
    return issued.link.provider_session_id


def pdf_text(content: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(content)).pages)
