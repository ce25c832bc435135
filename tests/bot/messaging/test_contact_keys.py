"""The demo channel and WhatsApp/SMS share no opt-out: keywords at the gateway, checks before sending."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.common.copy import app_message
from bot.common.phones import InvalidPhone
from bot.ledger.db import session_scope
from bot.ledger.models import Conversation, MessageStatus
from bot.messaging.compliance import check_outbound
from bot.messaging.contact import contact_key, contact_key_of, is_opted_out, split_contact_key
from bot.messaging.contact_rules import ContactVerdict
from bot.messaging.gateway import Gateway, Inbound
from bot.messaging.locks import InProcessLocks

NUMBER = "+525512345678"


class EchoDialogue:
    def __init__(self) -> None:
        self.heard: list[tuple[str, str]] = []

    def reset(self, sender_id: str) -> None:
        pass

    def respond(self, sender_id: str, text: str, metadata: dict[str, Any]) -> list[str]:
        self.heard.append((sender_id, text))
        return ["te leo"]


def test_contact_keys() -> None:
    assert contact_key("whatsapp", NUMBER) == contact_key("sms", NUMBER) == NUMBER
    assert contact_key("demo", NUMBER) == "demo:" + NUMBER
    assert contact_key_of("whatsapp:+5215512345678") == NUMBER  # WhatsApp's +521 form, the same number
    assert contact_key_of("demo:+5215512345678") == "demo:" + NUMBER
    assert split_contact_key("demo:" + NUMBER) == (True, NUMBER) and split_contact_key(NUMBER) == (False, NUMBER)
    with pytest.raises(InvalidPhone):
        contact_key_of("telegram:+525512345678")


def test_a_demo_baja_does_not_silence_whatsapp_nor_the_other_way(database_url: str) -> None:
    dialogue = EchoDialogue()
    gateway = Gateway(dialogue, InProcessLocks())

    def say(channel: str, body: str) -> list[str]:
        return gateway.receive(Inbound(channel=channel, sender=NUMBER, body=body), MessageStatus.SENT)[1]

    assert say("demo", "BAJA") == [app_message("utter_keyword_opted_out")]
    assert say("demo", "hola") == []  # the demo contact is silenced…
    assert say("whatsapp", "hola") == ["te leo"]  # …the real number is not
    assert say("sms", "hola") == ["te leo"]
    assert say("whatsapp", "STOP") == [app_message("utter_keyword_opted_out")]
    assert say("sms", "hola") == []  # WhatsApp and SMS of one number share their opt-out
    assert say("demo", "ALTA") == [app_message("utter_opted_in")]
    assert say("demo", "hola") == ["te leo"]
    assert say("whatsapp", "hola") == []  # the demo's ALTA did not opt the real number back in
    assert [sender for sender, _ in dialogue.heard] == [
        "whatsapp:" + NUMBER, "sms:" + NUMBER, "demo:" + NUMBER]
    with session_scope() as session:
        assert is_opted_out(session, NUMBER) and not is_opted_out(session, "demo:" + NUMBER)


def test_outbound_checks_honour_each_contact_key(database_url: str) -> None:
    gateway = Gateway(EchoDialogue(), InProcessLocks())
    for channel in ("demo", "whatsapp"):
        gateway.receive(Inbound(channel=channel, sender=NUMBER, body="hola"), MessageStatus.SENT)
    gateway.receive(Inbound(channel="demo", sender=NUMBER, body="BAJA"), MessageStatus.SENT)
    with session_scope() as session:
        conversations = {c.channel: c for c in session.scalars(select(Conversation))}
        now = conversations["whatsapp"].last_inbound_at
        assert check_outbound(session, conversations["demo"], now).decision is ContactVerdict.NEVER
        assert check_outbound(session, conversations["whatsapp"], now).free_text
    gateway.receive(Inbound(channel="sms", sender=NUMBER, body="BAJA"), MessageStatus.SENT)
    with session_scope() as session:
        whatsapp = session.scalars(select(Conversation).where(Conversation.channel == "whatsapp")).one()
        assert check_outbound(session, whatsapp, now).decision is ContactVerdict.NEVER  # SMS's opt-out covers WhatsApp
