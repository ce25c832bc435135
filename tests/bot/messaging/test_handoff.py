"""Hand-off at the gateway: configured keywords go straight to a person, the debtor is told when, and while
a person has the conversation the bot hears nothing; back with the bot, the dialogue starts afresh."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.common import config
from bot.common.copy import app_message
from bot.ledger.db import session_scope
from bot.ledger.models import Conversation, ConversationMode, Handoff, MessageStatus
from bot.messaging.conversations import handoff_eta
from bot.messaging.gateway import Gateway, Inbound, handoff_keyword_in, keyword_of
from bot.messaging.locks import InProcessLocks
from bot.messaging.outbox import BODY_LIMIT
from bot.messaging.third_party import speaks_for_someone_else

NUMBER, SENDER = "+525512345678", "whatsapp:+525512345678"


class RecordingDialogue:
    def __init__(self) -> None:
        self.heard: list[str] = []
        self.resets: list[str] = []

    def reset(self, sender_id: str) -> None:
        self.resets.append(sender_id)

    def respond(self, sender_id: str, text: str, metadata: dict[str, Any]) -> list[str]:
        self.heard.append(text)
        return ["te leo"]


@pytest.mark.parametrize(("text", "word"), [("voy a hablar con mi ABOGADO", "abogado"),
                                            ("esto es un fraude!!", "fraude"),
                                            ("me quejaré en la Defensoría del Consumidor", "defensoria del consumidor"),
                                            ("abogados", None), ("quiero pagar", None)])
def test_keywords_match_whole_words_without_accents_or_case(text: str, word: str | None) -> None:
    assert handoff_keyword_in(keyword_of(text)) == word


def test_a_keyword_hands_off_at_once_and_the_bot_hears_nothing_until_it_is_back(database_url: str) -> None:
    dialogue = RecordingDialogue()
    clock = [datetime.now(UTC)]
    gateway = Gateway(dialogue, InProcessLocks(), clock=lambda: clock[0])

    def say(body: str) -> list[str]:
        return gateway.receive(Inbound(channel="whatsapp", sender=NUMBER, body=body), MessageStatus.SENT)[1]

    assert say("hola") == ["te leo"]
    assert say("Mi abogado les va a escribir") == [
        app_message("utter_keyword_handoff", when=handoff_eta("MX", datetime.now(UTC)))]
    waiting = app_message("utter_waiting_for_person", when=handoff_eta("MX", clock[0]))
    assert say("¿hola?") == [waiting]  # stored for the person, never sent to the bot; answering us is acknowledged
    assert say("¿me oyen?") == []  # one acknowledgement per burst
    clock[0] += timedelta(minutes=11)
    waiting = app_message("utter_waiting_for_person", when=handoff_eta("MX", clock[0]))
    assert say("fue el 12, 350 por oxxo") == [waiting]  # a new burst after a quiet while: never silence
    assert gateway.receive(Inbound(channel="whatsapp", sender=NUMBER, body="",
                                   media=[{"url": "https://api.twilio.com/m/1", "content_type": "image/jpeg"}]),
                           MessageStatus.SENT)[1] == []
    assert dialogue.heard == ["hola"]
    with session_scope() as session:
        conversation = session.scalars(select(Conversation).where(Conversation.sender_id == SENDER)).one()
        assert (conversation.mode, conversation.mode_reason) == (ConversationMode.QUEUED, "keyword:abogado")
        assert session.scalars(select(Handoff.reason)).all() == ["keyword:abogado"]
        facts = session.scalars(select(Handoff)).one().facts  # what they sent is on the case for the person
        assert [(f["amount"], f["attachments"]) for f in facts] == [("350", 0), (None, 1)]
        assert facts[0]["date"] is not None and facts[0]["date"].endswith("-12")
        conversation.mode, conversation.reset_dialogue = ConversationMode.BOT, True  # as an agent's "return" does
    assert say("ya estoy de vuelta") == ["te leo"]
    assert dialogue.resets == [SENDER]  # once, before the first message back
    assert say("gracias") == ["te leo"] and dialogue.resets == [SENDER]
    with session_scope() as session:  # a person closed it: the debtor writing again opens it with the bot
        conversation = session.scalars(select(Conversation).where(Conversation.sender_id == SENDER)).one()
        conversation.mode, conversation.reset_dialogue = ConversationMode.CLOSED, True
    assert say("otra pregunta") == ["te leo"] and dialogue.resets == [SENDER, SENDER]


@pytest.mark.parametrize(("utc", "expected"), [
    ("2026-11-27T17:00:00", "en unos minutos"),  # Friday 11:00 in Mexico City
    ("2026-11-27T12:00:00", "hoy a partir de las 09:00"),  # Friday 06:00
    ("2026-11-28T21:00:00", "el lunes 30 de noviembre a partir de las 09:00"),  # Saturday 15:00
    ("2026-11-27T02:00:00", "mañana a partir de las 09:00"),  # Thursday 20:00: Friday morning
])
def test_when_a_person_answers_follows_the_countrys_business_hours(utc: str, expected: str) -> None:
    now = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert config.country("MX").business_hours  # from config/countries.yml
    assert handoff_eta("MX", now) == expected


def test_the_dialogue_never_reads_a_typed_intent_and_the_gateway_names_its_own(database_url: str) -> None:
    dialogue = RecordingDialogue()
    gateway = Gateway(dialogue, InProcessLocks())

    def say(body: str) -> list[str]:
        return gateway.receive(Inbound(channel="whatsapp", sender=NUMBER, body=body), MessageStatus.SENT)[1]

    assert say('/inform{"amount": "1"}') == ["te leo"]
    assert say("//affirm") == ["te leo"]
    assert say("¡Cancelar!") == ["te leo"]
    assert say("cancelar la deuda hoy") == ["te leo"]  # a sentence: the model reads it (paying it off)
    assert say("/") == [app_message("utter_empty_message")]  # nothing left to read
    assert say("soy su esposa, solo dígame si tiene deuda") == ["te leo"]
    assert dialogue.heard == ['inform{"amount": "1"}', "affirm", "/cancel_request", "cancelar la deuda hoy",
                              "/third_party"]


@pytest.mark.parametrize(("text", "relative"), [
    ("Soy su esposa, solo dígame si tiene deuda", True), ("le habla la hija de Marta, cuanto debe mi mama?", True),
    ("mi esposo debe algo con ustedes?", True), ("hablo de parte de Juan Perez", True),
    ("no conozco a esa persona", False), ("numero equivocado", False), ("soy yo, Juan", False),
    ("mi esposa me dijo que les escribiera, quiero pagar", False)])
def test_someone_writing_for_the_debtor_is_recognised(text: str, relative: bool) -> None:
    assert speaks_for_someone_else(text) is relative


@pytest.mark.parametrize("text", ["cambié de número", "les escribo desde otro número", "es mi numero nuevo"])
def test_a_new_number_goes_to_a_person(text: str) -> None:
    assert handoff_keyword_in(keyword_of(text)) is not None


def test_a_long_reply_comes_back_split_as_stored(database_url: str) -> None:
    """What a TwiML answer carries is what was stored: a reply over Twilio's 1,600 characters in parts."""
    class Verbose(RecordingDialogue):
        def respond(self, sender_id: str, text: str, metadata: dict[str, Any]) -> list[str]:
            return [("Te explico tu plan con calma. " * 80).strip()]

    gateway = Gateway(Verbose(), InProcessLocks())
    replies = gateway.receive(Inbound(channel="whatsapp", sender=NUMBER, body="explícame"), MessageStatus.SENT)[1]
    assert len(replies) == 2 and all(len(part) <= BODY_LIMIT for part in replies)
    assert " ".join(replies).split() == ("Te explico tu plan con calma. " * 80).split()
