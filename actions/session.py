"""Session start: slots come from the database, not from the previous session."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import sender_of, utcnow
from actions.slots import DEBTOR_FIRST_NAME, VERIFIED
from bot.identity.verification import verified_debtor
from bot.ledger.db import session_scope


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        sender = sender_of(tracker)
        debtor = None
        if sender.e164:
            with session_scope() as session:
                debtor = verified_debtor(session, sender.key, utcnow())
        return [
            SessionStarted(),
            SlotSet(VERIFIED, debtor is not None),
            SlotSet(DEBTOR_FIRST_NAME, debtor.first_name if debtor else None),
            ActionExecuted("action_listen"),
        ]
