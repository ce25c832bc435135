"""One inbound message, end to end: stored first, then processed in order, once.

1. `store` saves the message (idempotent on the provider's id, e.g. Twilio's MessageSid) and commits
   before anything acts on it.
2. `process` takes the conversation's lock and handles every waiting message of that conversation in
   arrival order: opt-out and opt-in keywords, the conversation's mode, media and empty bodies, then the
   dialogue (Rasa). Replies are stored as outbound rows linked to the message they answer.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, Table, and_, bindparam, exists, func, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from bot.common import config
from bot.common.copy import app_message
from bot.common.phones import sender_id_for
from bot.ledger.db import session_scope
from bot.ledger.models import Conversation, ConversationMode, Direction, Message, MessageStatus, OptOut, utcnow
from bot.messaging.contact import contact_key_of, is_opted_out, opt_in, opt_out
from bot.messaging.conversations import (
    conversation_country,
    handoff_eta,
    note_reported_facts,
    open_handoff,
    request_handoff,
    uses_voseo,
)
from bot.messaging.dialogue import Dialogue, DialogueUnavailable
from bot.messaging.inbound_store import InboundRow, find_message_async, store_async, store_in
from bot.messaging.locks import ConversationLocks
from bot.messaging.outbox import store_outbound, store_replies
from bot.messaging.third_party import speaks_for_someone_else

OPT_OUT_KEYWORDS = frozenset({"stop", "baja", "alto", "no molestar", "unsubscribe", "stopall"})
# "Cancelar la deuda" means paying it off in Latin America: "cancelar" alone is never an opt-out; the dialogue
# gets it as the intent below (inside a plan it cancels the plan, elsewhere it asks what to cancel).
CANCEL_KEYWORDS = frozenset({"cancelar", "cancela", "cancelen", "cancelalo", "cancelar todo",
                             "olvidalo", "olvidalo mejor", "mejor olvidalo", "olvidate", "dejalo asi", "dejalo"})
# Intents only the gateway sends ("/intent", Rasa's way to name an intent). A debtor's own text never starts
# with "/" when it reaches Rasa, so nobody can type an intent or its entities.
CANCEL_INTENT = "cancel_request"
# Someone writing for the debtor ("soy su esposa…") gets the privacy line whatever the model would make of it,
# verified number or not: nobody who says they are someone else hears about the account.
THIRD_PARTY_INTENT = "third_party"
GATEWAY_INTENTS = frozenset({CANCEL_INTENT, THIRD_PARTY_INTENT})
WAITING_ACK_QUIET = timedelta(minutes=10)  # a message after this long without a word from us is acknowledged
OPT_IN_KEYWORDS = frozenset({"alta", "start", "unstop"})
_WAITING = (MessageStatus.RECEIVED, MessageStatus.PENDING)
_messages = cast(Table, Message.__table__)
# A turn's end, built once (issue 23): the message handled (or pending), and the conversation's next waiting one.
_MARK_HANDLED = (update(_messages).where(_messages.c.id == bindparam("message_id"), _messages.c.status.in_(_WAITING))
                 .values(status=bindparam("new_status", type_=_messages.c.status.type),
                         processed_at=bindparam("processed", type_=_messages.c.processed_at.type),
                         updated_at=bindparam("at", type_=_messages.c.updated_at.type))
                 .returning(_messages.c.conversation_id))
_conversations = cast(Table, Conversation.__table__)
_opt_outs = cast(Table, OptOut.__table__)
_OPTED_OUT_BY = select(_opt_outs.c.message_id).where(_opt_outs.c.e164 == bindparam("contact_key"))
# A turn's start: the message, what the gateway decides by (its conversation's mode, the number's opt-out), one row.
_TURN_COLUMNS = (_messages.c.id, _messages.c.body, _messages.c.media, _messages.c.status,
                 _messages.c.conversation_id, _conversations.c.sender_id, _conversations.c.channel,
                 _conversations.c.mode, _conversations.c.reset_dialogue,
                 exists().where(_opt_outs.c.e164 == bindparam("contact_key")).label("opted_out"),
                 _OPTED_OUT_BY.scalar_subquery().label("opted_out_by"))  # the message whose turn opted out, if any
_MESSAGE_FACTS = (select(*_TURN_COLUMNS).join_from(_messages, _conversations)
                  .where(_messages.c.id == bindparam("message_id"), _messages.c.status.in_(_WAITING)))
_WAITING_FACTS = (select(*_TURN_COLUMNS).join_from(_messages, _conversations)
                  .where(_conversations.c.sender_id == bindparam("sender_id"),
                         _messages.c.direction == Direction.INBOUND, _messages.c.status.in_(_WAITING))
                  .order_by(_messages.c.id))
_NEXT_WAITING = (select(_messages.c.id).where(_messages.c.conversation_id == bindparam("conversation_id"),
                                              _messages.c.direction == Direction.INBOUND,
                                              _messages.c.status.in_(_WAITING))
                 .order_by(_messages.c.id).limit(1))


@dataclass(frozen=True)
class Inbound:
    channel: str  # whatsapp | sms | demo
    sender: str  # as the provider wrote it: "whatsapp:+521…", "+52…"
    body: str
    external_id: str | None = None  # Twilio MessageSid; None for the demo chat
    to: str | None = None  # our number the debtor wrote to
    media: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Turn:
    message_id: int
    replies: list[str]
    answered: bool  # False: the dialogue was unavailable, the message waits (pending)
    next_waiting: int | None  # the conversation's next message waiting for the bot


@dataclass(frozen=True)
class Stored:
    message_id: int
    sender_id: str
    duplicate: bool


def keyword_of(body: str) -> str:
    """'¡Baja!' → 'baja', 'No  Molestar.' → 'no molestar': how keywords are compared."""
    text = unicodedata.normalize("NFKD", body).encode("ascii", "ignore").decode().lower()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def dialogue_text(body: str, max_chars: int) -> str:
    """What Rasa reads: trimmed, capped, and never an intent command ("/affirm", '/inform{"amount": 1}')."""
    return body.strip().lstrip("/").strip()[:max_chars]


def handoff_keyword_in(normalised: str) -> str | None:
    """The first configured hand-off keyword (config/handoff.yml) in a message normalised by `keyword_of`."""
    padded = f" {normalised} "
    for word in config.handoff_keywords():
        if f" {keyword_of(word)} " in padded:
            return keyword_of(word)
    return None


class Gateway:
    def __init__(self, dialogue: Dialogue, locks: ConversationLocks, *, max_text_chars: int = 1000,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._dialogue = dialogue
        self._locks = locks
        self._max_text_chars = max_text_chars
        self._clock = clock

    # --- 1. store ----------------------------------------------------------------------------------
    def store(self, inbound: Inbound) -> Stored:
        row = self._row(inbound)
        for attempt in range(3):  # two first messages at once race to create the conversation
            try:
                with session_scope() as session:
                    return Stored(store_in(session, row), row.sender_id, duplicate=False)
            except IntegrityError:
                duplicate = self._find_duplicate(inbound)
                if duplicate is not None:
                    return Stored(duplicate, row.sender_id, duplicate=True)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def store_async(self, inbound: Inbound, engine: AsyncEngine) -> Stored:
        """`store` on an event loop (PostgreSQL, `async_engine_for`): no worker thread, one round trip."""
        row = self._row(inbound)
        for attempt in range(3):
            try:
                return Stored(await store_async(engine, row), row.sender_id, duplicate=False)
            except IntegrityError:
                duplicate = await find_message_async(engine, inbound.external_id) if inbound.external_id else None
                if duplicate is not None:
                    return Stored(duplicate, row.sender_id, duplicate=True)
                if attempt == 2:
                    raise
            except DBAPIError as error:
                # PostgreSQL dropped the connection (a restart; the engine pings no connection first): the pool
                # has let go of the old ones, so this tries a new one.
                if not error.connection_invalidated or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _row(self, inbound: Inbound) -> InboundRow:
        # A repeated MessageSid (Twilio retries) fails the insert, unique: `store` then answers with the stored one.
        # No look-up first, in the database or in Redis: round trips every message paid for a rare retry.
        sender_id = sender_id_for(inbound.channel, inbound.sender.removeprefix(f"{inbound.channel}:"))
        return InboundRow(inbound.channel, sender_id, inbound.body, inbound.external_id, inbound.to, inbound.media,
                          self._clock())

    def _find_duplicate(self, inbound: Inbound) -> int | None:
        if not inbound.external_id:
            return None
        with session_scope() as session:
            return session.scalar(select(Message.id).where(Message.external_id == inbound.external_id))

    def sending(self, sender_id: str) -> AbstractContextManager[None]:
        """Held while a conversation's replies are handed to the provider: two reply threads (or processes)
        finishing turns of one conversation would otherwise send its replies side by side, and they could
        arrive out of order. A lock of its own: the next turn does not wait for the sending."""
        return self._locks.hold(f"send:{sender_id}")

    # --- 2. process --------------------------------------------------------------------------------
    def process(self, sender_id: str, reply_status: MessageStatus, *,
                retry_pending: bool = False) -> dict[int, list[str]]:
        """Handle every waiting message of this conversation, oldest first, one at a time; the replies to each.

        While a message of the conversation is pending (the bot was unavailable), new messages only wait
        behind it, unless `retry_pending`: the retry worker is the one that tries the bot again. This
        keeps webhook answers fast during an outage and the debtor gets a single holding reply.
        """
        answered: dict[int, list[str]] = {}
        with self._locks.hold(sender_id):
            turn = self._process_one(reply_status, sender_id, retry_pending=retry_pending)
            while turn is not None:
                answered[turn.message_id] = turn.replies
                if not turn.answered or turn.next_waiting is None:
                    break  # done, or the bot is unavailable: the rest waits, in order
                turn = self._process_one(reply_status, sender_id, message_id=turn.next_waiting)
        return answered

    def receive(self, inbound: Inbound, reply_status: MessageStatus) -> tuple[Stored, list[str]]:
        """Store, process, and return the replies to this very message (empty for a duplicate)."""
        stored = self.store(inbound)
        if stored.duplicate:
            return stored, []
        answered = self.process(stored.sender_id, reply_status)
        if stored.message_id in answered:
            return stored, answered[stored.message_id]
        return stored, self.replies_to(stored.message_id)  # another request's turn answered it

    def resume_waiting(self, *, handoff_after: timedelta, settle: timedelta = timedelta(seconds=5)) -> int:
        """The retry worker's pass: try the bot again for every conversation with waiting messages.

        Replies go through the outbox (the webhook that brought the message has long been answered).
        A conversation whose oldest pending message waited past `handoff_after` is queued for a human
        with reason bot_error. Returns how many conversations were visited.
        """
        now = self._clock()
        with session_scope() as session:
            waiting = session.execute(
                select(Conversation.sender_id, func.min(Message.created_at)).join(Message)
                .where(Message.direction == Direction.INBOUND,
                       or_(Message.status == MessageStatus.PENDING,
                           and_(Message.status == MessageStatus.RECEIVED, Message.created_at < now - settle)))
                .group_by(Conversation.sender_id)).all()
        for sender_id, oldest in waiting:
            if now - oldest > handoff_after:
                self._hand_off_for_bot_error(sender_id)
            else:
                self.process(sender_id, MessageStatus.QUEUED, retry_pending=True)
        return len(waiting)

    def _hand_off_for_bot_error(self, sender_id: str) -> None:
        with self._locks.hold(sender_id), session_scope() as session:
            now = self._clock()
            conversation = request_handoff(session, sender_id, "bot_error", now)
            waiting = list(session.scalars(select(Message).where(
                Message.conversation_id == conversation.id, Message.direction == Direction.INBOUND,
                Message.status.in_(_WAITING)).order_by(Message.id)))
            for message in waiting:
                message.status = MessageStatus.PROCESSED  # now in the human queue, in order
                message.processed_at = now
            if waiting and not is_opted_out(session, contact_key_of(sender_id)):
                when = handoff_eta(conversation_country(session, conversation), now)
                store_outbound(session, conversation, app_message("utter_bot_error_handoff", when=when,
                                                                 voseo=uses_voseo(session, conversation)), now,
                               status=MessageStatus.QUEUED, in_reply_to=waiting[-1])

    def replies_to(self, message_id: int) -> list[str]:
        with session_scope() as session:
            return list(session.scalars(select(Message.body).where(Message.in_reply_to_id == message_id)
                                        .order_by(Message.id)))

    @staticmethod
    def _first_waiting(session: Session, sender_id: str, key: str, retry_pending: bool) -> Row[Any] | None:
        """The conversation's oldest message waiting for the bot, as `_TURN_FACTS`; None when there is none, or when
        one is pending and this is not the retry pass (one query)."""
        waiting = session.execute(_WAITING_FACTS, {"sender_id": sender_id, "contact_key": key}).all()
        if not waiting or (not retry_pending and any(row.status is MessageStatus.PENDING for row in waiting)):
            return None
        return waiting[0]

    def _process_one(self, reply_status: MessageStatus, sender_id: str, *, message_id: int | None = None,
                     retry_pending: bool = False) -> Turn | None:
        """One message of `sender_id` answered: `message_id`, or the conversation's first waiting message, found in
        the same query that reads it. Not `answered` when the dialogue was unavailable (the message stays pending);
        None when there was nothing to answer."""
        key = contact_key_of(sender_id)  # the demo never opts out WhatsApp/SMS, nor back
        with session_scope() as session:
            facts = (self._first_waiting(session, sender_id, key, retry_pending) if message_id is None
                     else session.execute(_MESSAGE_FACTS, {"message_id": message_id, "contact_key": key}).one_or_none())
            if facts is None:
                return None
            keyword = keyword_of(facts.body or "")
            text = dialogue_text(facts.body or "", self._max_text_chars)
            replies = self._own_answer(session, facts, key, keyword, text)
            if keyword in CANCEL_KEYWORDS:
                text = f"/{CANCEL_INTENT}"
            elif speaks_for_someone_else(text):
                text = f"/{THIRD_PARTY_INTENT}"
        message_id, conversation_id, channel = int(facts.id), int(facts.conversation_id), str(facts.channel)
        if replies is None:
            try:
                if facts.reset_dialogue:  # back from a person: the bot starts afresh (ledger and identity stay)
                    self._dialogue.reset(sender_id)
                    self._dialogue_was_reset(sender_id)
                replies = self._dialogue.respond(sender_id, text, {"channel": channel, "message_id": message_id})
            except DialogueUnavailable:
                if self._opted_out_by(key, message_id):  # the action recorded it, then Rasa failed: confirm it
                    confirmation = [self._gateway_says(facts, "utter_keyword_opted_out")]
                    stored, next_waiting = self._finish(message_id, conversation_id, channel, confirmation,
                                                        reply_status, MessageStatus.PROCESSED)
                    return Turn(message_id, stored, answered=True, next_waiting=next_waiting)
                was_pending = facts.status is MessageStatus.PENDING
                holding = [] if was_pending else [self._gateway_says(facts, "utter_bot_unavailable")]  # said once
                stored, _ = self._finish(message_id, conversation_id, channel, holding, reply_status,
                                         MessageStatus.PENDING)
                return Turn(message_id, stored, answered=False, next_waiting=None)
        stored, next_waiting = self._finish(message_id, conversation_id, channel, replies, reply_status,
                                           MessageStatus.PROCESSED)
        return Turn(message_id, stored, answered=True, next_waiting=next_waiting)

    def _own_answer(self, session: Session, facts: Row[Any], key: str, keyword: str, text: str) -> list[str] | None:
        """What the gateway answers itself: keywords, an opted-out number, a conversation a person has, media or an
        empty message, a hand-off keyword. None: the dialogue answers. Only these paths load the conversation
        (a turn's common path reads one row, `_TURN_FACTS`)."""
        def conversation() -> Conversation:
            found = session.get(Conversation, facts.conversation_id)
            assert found is not None
            return found

        def says(name: str, **values: str) -> list[str]:
            return [app_message(name, voseo=uses_voseo(session, conversation()), **values)]

        mode = facts.mode
        if mode is ConversationMode.CLOSED and keyword not in OPT_OUT_KEYWORDS:
            conversation().mode = mode = ConversationMode.BOT  # closed by a person: the debtor writing again opens it
        this_turn_opted_out = facts.opted_out and facts.opted_out_by == facts.id  # and its answer was lost
        if keyword in OPT_OUT_KEYWORDS:
            newly = opt_out(session, key, facts.channel, source="keyword", message_id=facts.id)
            return says("utter_keyword_opted_out") if newly or this_turn_opted_out else []
        if keyword in OPT_IN_KEYWORDS and facts.opted_out:
            opt_in(session, key, facts.channel, source="keyword")
            return says("utter_opted_in")
        if facts.opted_out:  # stored for the record and for agents; nothing automated but the confirmation
            return says("utter_keyword_opted_out") if this_turn_opted_out else []
        if mode is not ConversationMode.BOT:
            message = session.get(Message, facts.id)
            assert message is not None
            return self._waiting_acknowledgement(session, conversation(), message)
        if not text:
            return says("utter_media_not_supported" if facts.media else "utter_empty_message")
        if (word := handoff_keyword_in(keyword)) is not None:  # straight to a person, the bot says nothing else
            handed = request_handoff(session, facts.sender_id, f"keyword:{word}", self._clock())
            return says("utter_keyword_handoff", when=handoff_eta(conversation_country(session, handed), self._clock()))
        return None

    @staticmethod
    def _opted_out_by(key: str, message_id: int) -> bool:
        """Whether this message's turn opted the number out (read only when the dialogue failed)."""
        with session_scope() as session:
            return bool(session.scalar(_OPTED_OUT_BY, {"contact_key": key}) == message_id)

    def _gateway_says(self, facts: Row[Any], name: str) -> str:
        """One of the gateway's own lines, in the conversation's "tú" or "vos" (read only when it is said)."""
        with session_scope() as session:
            conversation = session.get(Conversation, facts.conversation_id)
            assert conversation is not None
            return app_message(name, voseo=uses_voseo(session, conversation))

    def _waiting_acknowledgement(self, session: Session, conversation: Conversation, message: Message) -> list[str]:
        """A debtor waiting for a person is never met with silence: their first message in the queue (often the
        answer to the bot's "when and how much?") is acknowledged with when a person answers, and so is the first
        of each later burst (after WAITING_ACK_QUIET without a word from us), so a person chatting with the
        debtor is not interrupted. Dates, amounts and attachments they send go on the hand-off."""
        now = self._clock()
        note_reported_facts(session, conversation, message, now)
        handoff = open_handoff(session, conversation)
        first_while_queued = handoff is not None and handoff.claimed_by_id is None and handoff.acknowledged_at is None
        last_said = session.scalar(select(func.max(Message.created_at)).where(
            Message.conversation_id == conversation.id, Message.direction == Direction.OUTBOUND,
            Message.status != MessageStatus.FAILED))
        quiet = last_said is None or now - last_said >= WAITING_ACK_QUIET
        if not (first_while_queued or quiet):
            return []
        if handoff is not None:
            handoff.acknowledged_at = now
        when = handoff_eta(conversation_country(session, conversation), now)
        return [app_message("utter_waiting_for_person", when=when, voseo=uses_voseo(session, conversation))]

    def _dialogue_was_reset(self, sender_id: str) -> None:
        with session_scope() as session:
            conversation = session.scalars(select(Conversation).where(Conversation.sender_id == sender_id)).one()
            conversation.reset_dialogue = False

    def _finish(self, message_id: int, conversation_id: int, channel: str, replies: list[str],
                reply_status: MessageStatus, status: MessageStatus) -> tuple[list[str], int | None]:
        """Store the replies and the message's new status. Returns the replies as stored (split as the channel
        needs: a TwiML answer sends exactly these) and the conversation's next waiting message, if any. A message
        no longer waiting was answered by another turn (a lock that expired under it): its replies are not stored
        twice, and the conversation's next message is still found."""
        now = self._clock()
        with session_scope() as session:
            handled = session.execute(_MARK_HANDLED, {
                "message_id": message_id, "new_status": status, "at": now,
                "processed": now if status is MessageStatus.PROCESSED else None}).first()
            stored = (store_replies(session, message_id, conversation_id, channel, replies, now, status=reply_status)
                      if handled is not None else [])
            return stored, session.scalar(_NEXT_WAITING, {"conversation_id": conversation_id})
