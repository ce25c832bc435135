"""What every action needs from the tracker: who is writing, and a unit of work on the ledger."""
from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.slots import HANDOFF_REASON, OFFER_OF_A_PERSON, PENDING_OFFER
from bot.common.phones import InvalidPhone, split_sender_id
from bot.ledger.db import session_scope
from bot.ledger.models import Conversation
from bot.messaging.contact import contact_key
from bot.messaging.conversations import DEFAULT_COUNTRY, conversation_country, get_or_create_conversation


def in_thread[**P, R](method: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """Run an action's work on a worker thread. Actions read and write the ledger with blocking SQL; run on the
    action server's one event loop, every debtor's action call would wait for every other's queries."""

    @functools.wraps(method)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(method, *args, **kwargs)

    return run


@dataclass(frozen=True)
class Sender:
    sender_id: str
    channel: str
    e164: str | None  # None when the sender id does not follow `<channel>:<E.164>`

    @property
    def key(self) -> str:
        """The contact key (bot.messaging.contact) that verification, locks and opt-outs are recorded under.

        A malformed sender id gets a key of its own that no number can have, so it shares nothing.
        """
        return contact_key(self.channel, self.e164) if self.e164 else f"unknown:{self.sender_id}"[:32]


def sender_of(tracker: Tracker) -> Sender:
    try:
        channel, e164 = split_sender_id(tracker.sender_id)
    except InvalidPhone:
        return Sender(tracker.sender_id, "unknown", None)
    return Sender(f"{channel}:{e164}", channel, e164)


def message_id_of(tracker: Tracker) -> int | None:
    """The ledger's id of the message being answered, as the gateway sent it in the message's metadata (None from
    a client that did not: Rasa's own REST channel, `rasa shell`)."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    value = metadata.get("message_id") if isinstance(metadata, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def sender_country(sender_id: str) -> str:
    """Whose hours, documents and wording apply: the debtor's country, else the number's, else the default
    (also for a sender id that is not a phone number)."""
    with session_scope() as session:
        try:
            return conversation_country(session, get_or_create_conversation(session, sender_id))
        except InvalidPhone:
            return DEFAULT_COUNTRY


def country_in(session: Session, sender_id: str) -> str:
    """sender_country, read in a unit of work the action already has; it creates nothing (the gateway may be
    creating the conversation at that moment)."""
    conversation = session.scalars(select(Conversation).where(Conversation.sender_id == sender_id)).one_or_none()
    return conversation_country(session, conversation or Conversation(sender_id=sender_id))


def offer_a_person(reason: str) -> list[EventType]:
    """A bare "sí" now hands off, and the hand-off keeps why the bot offered (the agent's queue shows it)."""
    return [SlotSet(PENDING_OFFER, OFFER_OF_A_PERSON), SlotSet(HANDOFF_REASON, reason)]


def ask_to_rephrase(tracker: Tracker, dispatcher: CollectingDispatcher) -> list[EventType]:
    """A message nobody understood: ask to rephrase; the second miss in a row offers a person."""
    misses = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        if (event.get("parse_data") or {}).get("intent", {}).get("name") != "nlu_fallback":
            break
        misses += 1
    if misses >= 2:
        dispatcher.utter_message(response="utter_offer_human")
        return offer_a_person("repeated_fallback")
    dispatcher.utter_message(response="utter_ask_rephrase")
    return []


def utcnow() -> datetime:
    return datetime.now(UTC)


def triggering_message(tracker: Tracker, loop_name: str) -> dict[str, str]:
    """The message that started `loop_name` (what the debtor asked before verifying): intent and text."""
    events = list(tracker.events)
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if event.get("event") == "active_loop" and event.get("name") == loop_name:
            for earlier in reversed(events[:index]):
                if earlier.get("event") == "user":
                    parse = earlier.get("parse_data") or {}
                    return {"intent": (parse.get("intent") or {}).get("name") or "",
                            "text": earlier.get("text") or ""}
            return {}
    return {}
