"""The WhatsApp/SMS gateway through signed Twilio webhooks, with the real Rasa and action servers."""
from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.twilio_sender import TwilioTransport
from bot.common.settings import get_settings
from bot.ledger.db import session_scope
from bot.ledger.models import Conversation, Direction, Message, MessageStatus, utcnow
from bot.messaging.contact import is_opted_out
from bot.messaging.outbox import queue_proactive, send_queued
from tests.api.conftest import eventually, signed_post, sms_form, twiml_messages, whatsapp_form
from tests.conftest import Stack
from tests.expected import ASK, GREETING
from tests.fakes.twilio_api import FakeTwilio

pytestmark = pytest.mark.e2e



def stored(url: str, sender_id: str, direction: Direction | None = None) -> list[Message]:
    with session_scope(url) as session:
        query = select(Message).join(Conversation).where(Conversation.sender_id == sender_id)
        if direction:
            query = query.where(Message.direction == direction)
        return list(session.scalars(query.order_by(Message.id)))


def total_messages(url: str) -> int:
    with session_scope(url) as session:
        return session.scalar(select(func.count()).select_from(Message))


def test_whatsapp_message_is_answered_in_twiml_in_order_and_stored(client: TestClient, stack: Stack) -> None:
    response = signed_post(client, "/webhooks/twilio/whatsapp", whatsapp_form("+5215500000101", "hola"))
    assert twiml_messages(response) == [GREETING, ASK]
    rows = stored(stack.database_url, "whatsapp:+525500000101")
    assert [(m.direction, m.status) for m in rows] == [
        (Direction.INBOUND, MessageStatus.PROCESSED), (Direction.OUTBOUND, MessageStatus.SENT),
        (Direction.OUTBOUND, MessageStatus.SENT)]
    assert rows[1].in_reply_to_id == rows[0].id and rows[0].external_id.startswith("SMtest")


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl", "forged"])
def test_forged_or_missing_signature_is_refused_and_nothing_is_stored(client: TestClient, stack: Stack,
                                                                      signature: str) -> None:
    before = total_messages(stack.database_url)
    headers = {"X-Twilio-Signature": signature} if signature else {}
    response = client.post("/webhooks/twilio/whatsapp", data=whatsapp_form("+5215500000102", "hola"),
                           headers=headers)
    assert response.status_code == 403
    assert total_messages(stack.database_url) == before


def test_signature_for_another_url_or_token_is_refused(client: TestClient) -> None:
    form = whatsapp_form("+5215500000103", "hola")
    assert signed_post(client, "/webhooks/twilio/whatsapp", form, token="someone-elses-token").status_code == 403
    # a valid signature for the SMS URL does not open the WhatsApp one
    from twilio.request_validator import RequestValidator

    from tests.api.conftest import AUTH_TOKEN, PUBLIC_BASE_URL
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_BASE_URL + "/webhooks/twilio/sms", form)
    response = client.post("/webhooks/twilio/whatsapp", data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


def test_a_retried_message_sid_is_answered_once(client: TestClient, stack: Stack) -> None:
    form = whatsapp_form("+5215500000104", "hola")
    first = twiml_messages(signed_post(client, "/webhooks/twilio/whatsapp", form))
    retry = twiml_messages(signed_post(client, "/webhooks/twilio/whatsapp", form))
    assert first == [GREETING, ASK] and retry == []
    rows = stored(stack.database_url, "whatsapp:+525500000104")
    assert sum(m.direction is Direction.INBOUND for m in rows) == 1 and len(rows) == 3


def test_a_message_sid_delivered_twice_at_once_is_stored_and_answered_once(client: TestClient,
                                                                             stack: Stack) -> None:
    # No look-up before the insert: the unique MessageSid decides which delivery is the message, the other one
    # is answered as a retry, whichever loses the race.
    form = whatsapp_form("+5215500000114", "hola")
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: twiml_messages(signed_post(client, "/webhooks/twilio/whatsapp", form)),
                                range(4)))
    assert sorted(answers, key=len) == [[], [], [], [GREETING, ASK]]
    rows = stored(stack.database_url, "whatsapp:+525500000114")
    assert [m.direction for m in rows] == [Direction.INBOUND, Direction.OUTBOUND, Direction.OUTBOUND]


@pytest.mark.parametrize(("body", "expected"), [
    ("", ["No me llegó ningún texto. ¿Me escribes tu mensaje, por favor?"]),
    ("   ", ["No me llegó ningún texto. ¿Me escribes tu mensaje, por favor?"]),
])
def test_empty_bodies_get_a_clear_answer(client: TestClient, body: str, expected: list[str]) -> None:
    assert twiml_messages(signed_post(client, "/webhooks/twilio/sms", sms_form("+5215500000105", body))) == expected


def test_huge_and_emoji_only_bodies_are_answered_never_a_500(client: TestClient, stack: Stack) -> None:
    huge = ("hola quiero saber cuánto debo " * 200)[:5000]
    replies = twiml_messages(signed_post(client, "/webhooks/twilio/whatsapp", whatsapp_form("+5215500000106", huge)))
    assert replies and all(replies)
    inbound = stored(stack.database_url, "whatsapp:+525500000106", Direction.INBOUND)
    assert len(inbound[0].body) == 5000  # stored whole
    emoji_only = whatsapp_form("+5215500000107", "🙏😅👍")
    replies = twiml_messages(signed_post(client, "/webhooks/twilio/whatsapp", emoji_only))
    assert replies and all(replies)


def test_voice_note_gets_a_kind_request_for_text_and_is_stored_by_reference(client: TestClient,
                                                                            stack: Stack) -> None:
    form = whatsapp_form("+5215500000108", "", NumMedia="1", MediaContentType0="audio/ogg",
                         MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM1/Media/ME1")
    replies = twiml_messages(signed_post(client, "/webhooks/twilio/whatsapp", form))
    assert replies == ["Gracias. Por ahora solo puedo leer mensajes de texto: ¿me lo escribes, por favor? 🙏"]
    inbound = stored(stack.database_url, "whatsapp:+525500000108", Direction.INBOUND)[0]
    assert inbound.media == {"items": [{"url": form["MediaUrl0"], "content_type": "audio/ogg"}]}


def test_concurrent_messages_of_one_conversation_are_processed_once_each_in_order(
        client: TestClient, stack: Stack) -> None:
    forms = [whatsapp_form("+5215500000109", text) for text in ("hola", "1234", "5678", "gracias")]
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda form: signed_post(client, "/webhooks/twilio/whatsapp", form), forms))
    assert all(response.status_code == 200 for response in responses)
    inbound = stored(stack.database_url, "whatsapp:+525500000109", Direction.INBOUND)
    assert len(inbound) == 4 and all(m.status is MessageStatus.PROCESSED for m in inbound)
    processed = [m.processed_at for m in inbound]
    assert processed == sorted(processed)  # handled one at a time, in arrival order
    outbound = stored(stack.database_url, "whatsapp:+525500000109", Direction.OUTBOUND)
    assert {m.in_reply_to_id for m in outbound} == {m.id for m in inbound}  # every message answered


@pytest.mark.parametrize(("index", "keyword"), list(enumerate(
    ["BAJA", "stop", "Alto", "No Molestar", "¡baja!", "NO MOLESTÁR"])))
def test_opt_out_keywords_then_silence_then_alta(client: TestClient, stack: Stack, index: int, keyword: str) -> None:
    number = f"+52155000002{index:02d}"
    post = lambda body: twiml_messages(signed_post(client, "/webhooks/twilio/whatsapp",  # noqa: E731
                                                   whatsapp_form(number, body)))
    assert post(keyword) == ["Listo, no te enviaremos más mensajes automáticos a este número. "
                             "Si cambias de opinión, escribe ALTA."]
    assert post("hola") == []  # stored, not answered
    assert post(keyword) == []  # confirmed once
    assert post("ALTA") == ["¡Listo! Volverás a recibir nuestros mensajes en este número. ¿En qué te puedo ayudar?"]
    assert post("hola") == [GREETING, ASK]
    inbound = stored(stack.database_url, f"whatsapp:{number.replace('+521', '+52')}", Direction.INBOUND)
    assert len(inbound) == 5  # nothing lost


def test_cancelar_alone_asks_what_to_cancel_and_stops_nothing(client: TestClient, stack: Stack) -> None:
    number = "+5215500000299"
    post = lambda body: twiml_messages(signed_post(client, "/webhooks/twilio/whatsapp",  # noqa: E731
                                                   whatsapp_form(number, body)))
    assert post("Cancelar") == ["¿Qué quieres cancelar? Si quieres pagar tu deuda, escribe «quiero pagar». Si "
                                "prefieres no recibir más mensajes, escribe BAJA."]
    assert post("hola") == [GREETING, ASK]  # still in contact: "cancelar" may mean paying it off


def test_stop_contact_intent_opts_out_and_nothing_automated_follows(client: TestClient,
                                                                    stack: Stack) -> None:
    number = "+5215500000110"
    replies = twiml_messages(signed_post(client, "/webhooks/twilio/whatsapp",
                                         whatsapp_form(number, "ya no me escriban por favor")))
    assert replies == ["¿Quieres que dejemos de escribirte? Si es así, responde BAJA. Si solo necesitas tiempo, "
                       "aquí sigo."]  # the model's reading is confirmed once
    replies = twiml_messages(signed_post(client, "/webhooks/twilio/whatsapp", whatsapp_form(number, "sí")))
    assert replies == ["Listo, no te enviaremos más mensajes automáticos a este número. "
                       "Si cambias de opinión, escribe ALTA."]
    assert twiml_messages(signed_post(client, "/webhooks/twilio/whatsapp", whatsapp_form(number, "hola"))) == []
    with session_scope(stack.database_url) as session:
        conversation = session.scalars(select(Conversation).where(
            Conversation.sender_id == "whatsapp:+525500000110")).one()
        assert queue_proactive(session, conversation, "Recordatorio", utcnow())[0].status is MessageStatus.QUEUED
        assert send_queued(session, TwilioTransport(get_settings()), utcnow()) == 0  # blocked at send time


def test_rest_mode_answers_at_once_and_sends_through_the_outbox(rest_mode_client: TestClient,
                                                                fake_twilio: FakeTwilio,
                                                                stack: Stack) -> None:
    response = signed_post(rest_mode_client, "/webhooks/twilio/sms", sms_form("+5215500000111", "hola"))
    assert twiml_messages(response) == []

    def both_sent() -> list[Message]:
        outbound = stored(stack.database_url, "sms:+525500000111", Direction.OUTBOUND)
        return outbound if [m.status for m in outbound] == [MessageStatus.SENT] * 2 else []

    outbound = eventually(both_sent)  # REST mode: the reply threads answer after the webhook returned
    assert [(m["To"], m["From"], m["Body"]) for m in fake_twilio.sent] == [
        ("+525500000111", "+15550001111", GREETING), ("+525500000111", "+15550001111", ASK)]
    assert fake_twilio.sent[0]["StatusCallback"] == "https://acuerdo.example/webhooks/twilio/status"
    # delivery statuses come back signed and move forward only
    for status in ("delivered", "sent"):
        callback = {"MessageSid": outbound[0].external_id, "MessageStatus": status, "AccountSid": "AC" + "0" * 32}
        assert signed_post(rest_mode_client, "/webhooks/twilio/status", callback).status_code == 204
    assert stored(stack.database_url, "sms:+525500000111", Direction.OUTBOUND)[0].status is MessageStatus.DELIVERED
    failed = {"MessageSid": outbound[1].external_id, "MessageStatus": "undelivered", "ErrorCode": "21610"}
    assert signed_post(rest_mode_client, "/webhooks/twilio/status", failed).status_code == 204
    with session_scope(stack.database_url) as session:
        assert is_opted_out(session, "+525500000111")


@pytest.mark.parametrize(("number", "asks"), [("+5215500000161", ["BAJA"]),
                                             ("+5215500000162", ["ya no me escriban por favor", "sí"])])
def test_rest_mode_confirms_an_opt_out_and_then_sends_nothing(rest_mode_client: TestClient, fake_twilio: FakeTwilio,
                                                              stack: Stack, number: str, asks: list[str]) -> None:
    """REST mode sends replies after the turn: the opt-out is stored by then, and its confirmation (the answer to
    the debtor's own request, by keyword or through the model) must still reach them; nothing after it does."""
    e164 = number.replace("+521", "+52")

    def bodies() -> list[str]:
        return [m["Body"] for m in fake_twilio.sent if m["To"] == e164]

    for count, ask in enumerate(asks, start=1):
        signed_post(rest_mode_client, "/webhooks/twilio/sms", sms_form(number, ask))
        eventually(lambda count=count: len(bodies()) == count)
    assert bodies()[-1] == ("Listo, no te enviaremos más mensajes automáticos a este número. "
                            "Si cambias de opinión, escribe ALTA.")
    signed_post(rest_mode_client, "/webhooks/twilio/sms", sms_form(number, "hola"))
    eventually(lambda: [m for m in stored(stack.database_url, f"sms:{e164}", Direction.INBOUND)
                        if m.status is MessageStatus.PROCESSED][len(asks):])
    outbound = stored(stack.database_url, f"sms:{e164}", Direction.OUTBOUND)
    assert [m.status for m in outbound] == [MessageStatus.SENT] * len(asks) and len(bodies()) == len(asks)


def test_blocked_number_at_send_time_is_recorded_as_opted_out(rest_mode_client: TestClient, fake_twilio: FakeTwilio,
                                                              stack: Stack) -> None:
    fake_twilio.blocked.add("+525500000112")
    try:
        signed_post(rest_mode_client, "/webhooks/twilio/sms", sms_form("+5215500000112", "hola"))
        outbound = eventually(lambda: [m for m in stored(stack.database_url, "sms:+525500000112", Direction.OUTBOUND)
                                       if m.status is MessageStatus.FAILED])
    finally:
        fake_twilio.blocked.discard("+525500000112")
    assert outbound[0].error_code == "21610"
    with session_scope(stack.database_url) as session:
        assert is_opted_out(session, "+525500000112")


def test_whatsapp_window_closed_means_template_only(client: TestClient, fake_twilio: FakeTwilio,
                                                    stack: Stack) -> None:
    signed_post(client, "/webhooks/twilio/whatsapp", whatsapp_form("+5215512345678", "eres un robot?"))
    transport = TwilioTransport(get_settings())
    with session_scope(stack.database_url) as session:
        conversation = session.scalars(select(Conversation).where(
            Conversation.sender_id == "whatsapp:+525512345678")).one()
        conversation.debtor_id = conversation.debtor_id or _debtor_id(session, "E-MX-1")
        inside = queue_proactive(session, conversation, "Hola María, te escribe tu asesora.", utcnow())
        assert inside[0].template is None
        assert send_queued(session, transport, utcnow()) == 1
        conversation.last_inbound_at = utcnow() - timedelta(hours=25)
        outside = queue_proactive(session, conversation, "Hola María, te escribe tu asesora.", utcnow())
        assert outside[0].template == {"content_sid": "HX11110000000000000000000000000000",
                                       "variables": {"1": "María"}}
        late = queue_proactive(session, conversation, "Otro", utcnow())
        late[0].template = None  # as if queued while the window was open: re-checked at send time
        assert send_queued(session, transport, utcnow()) == 1
        assert late[0].status is MessageStatus.FAILED and late[0].error_code == "63016"
    free_text, template = fake_twilio.sent[-2:]
    assert free_text["Body"] == "Hola María, te escribe tu asesora." and "ContentSid" not in free_text
    assert template["ContentSid"] == "HX11110000000000000000000000000000" and "Body" not in template
    assert template["ContentVariables"] == '{"1": "Mar\\u00eda"}'
    assert template["To"] == "whatsapp:+525512345678"


def _debtor_id(session, external_id: str) -> int:  # type: ignore[no-untyped-def]
    from bot.ledger.models import Debtor
    return session.scalar(select(Debtor.id).where(Debtor.external_id == external_id))


def test_rest_mode_acknowledges_while_rasa_cannot_answer(rest_mode_client: TestClient, fake_twilio: FakeTwilio,
                                                         stack: Stack) -> None:
    """Twilio's acknowledgement never waits for the dialogue: with the real Rasa frozen (SIGSTOP), the webhook
    still answers, the message is stored, and the debtor's reply leaves once Rasa runs again."""
    rasa = stack.servers.processes[1]
    os.kill(rasa.pid, signal.SIGSTOP)
    try:
        response = signed_post(rest_mode_client, "/webhooks/twilio/sms", sms_form("+5215500000113", "hola"))
        assert response.status_code == 200 and twiml_messages(response) == []
        inbound = stored(stack.database_url, "sms:+525500000113", Direction.INBOUND)
        assert [m.body for m in inbound] == ["hola"]
        assert not [m for m in fake_twilio.sent if m["To"] == "+525500000113"]  # Rasa has not said a word
    finally:
        os.kill(rasa.pid, signal.SIGCONT)
    sent = eventually(lambda: [m["Body"] for m in fake_twilio.sent if m["To"] == "+525500000113"])
    assert sent[0] == GREETING
