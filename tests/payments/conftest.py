"""A ledger with one Mexican and one Chilean debtor, each with a conversation whose WhatsApp window is open."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.conversations import get_or_create_conversation
from bot.portfolio import import_portfolio_text
from bot.storage.models import Account, Conversation, Debtor
from tests.factories import ana_and_camila

ANA = "whatsapp:+525512345678"
CAMILA = "whatsapp:+56987654321"


@pytest.fixture
def ledger(session: Session) -> Session:
    import_portfolio_text(session, ana_and_camila())
    for sender, debtor_id in ((ANA, "D1"), (CAMILA, "D2")):
        conversation = get_or_create_conversation(session, sender)
        conversation.debtor_id = session.scalars(select(Debtor.id).where(Debtor.external_id == debtor_id)).one()
        conversation.last_inbound_at = datetime.now(timezone.utc) - timedelta(minutes=5)
    session.commit()
    return session


def account(session: Session, external_id: str) -> Account:
    return session.scalars(select(Account).where(Account.external_id == external_id)).one()


def conversation(session: Session, sender: str) -> Conversation:
    return session.scalars(select(Conversation).where(Conversation.sender_id == sender)).one()
