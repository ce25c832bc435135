"""Session start: slots come from the database, not from the previous session; the way of address (tú or
vos) from the debtor's country, else the number's."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import in_thread, sender_country, sender_of, utcnow
from actions.slots import DEBTOR_FIRST_NAME, VERIFIED, VOSEO
from bot.common import config
from bot.identity.verification import verified_debtor
from bot.ledger.db import session_scope


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    @in_thread
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: dict[str, Any]) -> list[EventType]:
        sender = sender_of(tracker)
        debtor = None
        first_name: str | None = None
        voseo = False
        if sender.e164:
            with session_scope() as session:
                debtor = verified_debtor(session, sender.key, utcnow())
                first_name, country = (debtor.first_name, debtor.country) if debtor else (None, None)
            voseo = config.country(country or sender_country(sender.sender_id)).voseo
        return [
            SessionStarted(),
            SlotSet(VERIFIED, debtor is not None),
            SlotSet(DEBTOR_FIRST_NAME, first_name),
            SlotSet(VOSEO, voseo),
            ActionExecuted("action_listen"),
        ]
