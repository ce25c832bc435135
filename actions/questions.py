"""Questions debtors ask about us rather than their account: who is writing and why, is this genuine, when
people answer. Before verification the answers name no creditor and no debt."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import in_thread, sender_country, sender_of, utcnow
from bot.common import config
from bot.common.locale import join_spanish, local_today
from bot.identity.verification import verified_debtor
from bot.ledger.balances import account_balances
from bot.ledger.db import session_scope
from bot.messaging.conversations import business_hours_text
from bot.payments.links import links_base_url


class ActionWhoIsWriting(Action):
    """'¿Quién es?', '¿por qué me escriben?', '¿es una estafa?'. Verified: the creditors and products, and how
    to tell our payment links apart. Not verified: who we are, in general terms (the identity form follows)."""

    def name(self) -> str:
        return "action_who_is_writing"

    @in_thread
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: dict[str, Any]) -> list[EventType]:
        sender = sender_of(tracker)
        now = utcnow()
        with session_scope() as session:
            debtor = verified_debtor(session, sender.key, now) if sender.e164 else None
            if debtor is None:
                dispatcher.utter_message(response="utter_who_is_writing")
                dispatcher.utter_message(response="utter_not_a_scam")
                return []
            balances = account_balances(session, debtor, local_today(debtor.country, debtor.timezone, now))
            accounts = debtor.accounts
            creditors = sorted({balance.creditor for balance in balances} or {a.creditor.name for a in accounts})
            products = sorted({balance.product for balance in balances} or {a.product for a in accounts})
            codes = sorted({a.creditor.code for a in accounts})
        dispatcher.utter_message(response="utter_who_is_writing_verified", creditors=join_spanish(creditors),
                                 products=join_spanish(products))
        if codes:
            dispatcher.utter_message(response="utter_link_safety", link_prefix=links_base_url(codes[0]) + "/")
        return []


class ActionTellHours(Action):
    """'¿A qué hora atienden?', '¿cuándo me escribe el asesor?': the bot is always here; people keep the
    country's business hours (config/countries.yml)."""

    def name(self) -> str:
        return "action_tell_hours"

    @in_thread
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: dict[str, Any]) -> list[EventType]:
        country = sender_country(sender_of(tracker).sender_id)
        dispatcher.utter_message(response="utter_hours", hours=business_hours_text(country),
                                 country=config.country(country).name)
        return []
