"""Trackers built by hand, as Rasa would send them, against a real SQLite ledger."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.identity import ValidateIdentityForm
from bot.ledger.portfolio import import_portfolio_text
from tests.factories import ana_and_camila

ANA = "whatsapp:+5215512345678"  # WhatsApp's Mexican +521 form: same debtor as +52 55…
CAMILA = "sms:+56987654321"


def user_event(text: str, intent: str, confidence: float = 0.9) -> dict[str, Any]:
    return {"event": "user", "text": text,
            "parse_data": {"intent": {"name": intent, "confidence": confidence}, "entities": [], "text": text}}


def make_tracker(sender_id: str, *, intent: str = "greet", text: str = "hola", slots: dict | None = None,
                 events: list[dict] | None = None, active_loop: str | None = None) -> Tracker:
    latest = {"intent": {"name": intent, "confidence": 0.9}, "entities": [], "text": text}
    history = [*(events or []), user_event(text, intent)]
    return Tracker(sender_id, {"verified": False, "pending_offer": None, **(slots or {})}, latest, history, False,
                   None, {"name": active_loop} if active_loop else {}, "action_listen")


def validate(answer: str, sender: str = ANA) -> tuple[list[dict], dict]:
    """One answer to the identity form, validated as Rasa would ask: (messages, slots)."""
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(sender, intent="inform", text=answer, active_loop="identity_form")
    slots = asyncio.run(ValidateIdentityForm().validate_identity_answer(answer, dispatcher, tracker, {}))
    return dispatcher.messages, slots


def run_action(action: Action, tracker: Tracker) -> tuple[list[dict], list[dict]]:
    """Run an action; returns (messages, events)."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, {}))
    return dispatcher.messages, events


@pytest.fixture
def ledger(session: Session) -> Session:
    import_portfolio_text(session, ana_and_camila())
    session.commit()
    return session
