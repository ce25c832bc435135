"""Session start: slots come from the database, not from the previous session; the way of address (tú or
vos) from the debtor's country, else the number's."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import sender_of, utcnow
from actions.slots import DEBTOR_FIRST_NAME, VERIFIED, VOSEO
from bot.common import config
from bot.identity.verification import verified_debtor
from bot.ledger.db import session_scope
from bot.messaging.conversations import conversation_country, get_or_create_conversation


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        sender = sender_of(tracker)
        debtor = None
        voseo = False
        if sender.e164:
            with session_scope() as session:
                debtor = verified_debtor(session, sender.key, utcnow())
                country = conversation_country(session, get_or_create_conversation(session, sender.sender_id))
                voseo = config.country(debtor.country if debtor else country).voseo
        return [
            SessionStarted(),
            SlotSet(VERIFIED, debtor is not None),
            SlotSet(DEBTOR_FIRST_NAME, debtor.first_name if debtor else None),
            SlotSet(VOSEO, voseo),
            ActionExecuted("action_listen"),
        ]
