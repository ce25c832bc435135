"""Never strand a debtor (issue 17): real messages through the signed Twilio webhook, the real Rasa model and
action server, on a real ledger. Several wordings per case; the words the model must read are the debtor's."""
from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.common.copy import render
from bot.ledger.db import session_scope
from bot.ledger.models import Conversation, ConversationMode, Direction, Handoff, IdentityCheck, Message
from bot.messaging.contact import is_opted_out
from tests.api.conftest import signed_post, twiml_messages, whatsapp_form
from tests.conftest import Stack
from tests.expected import ask, retry

pytestmark = pytest.mark.e2e

Say = Callable[[str], list[str]]
LUCIA, CARLOS, SOFIA = "+5215599990101", "+573012223333", "+5491144445555"
_numbers = iter(range(10_000))


def chat_as(client: TestClient, number: str) -> Say:
    def say(body: str) -> list[str]:
        return twiml_messages(signed_post(client, "/webhooks/twilio/whatsapp", whatsapp_form(number, body)))
    return say


def stranger(client: TestClient) -> tuple[str, Say]:
    number = f"+52155000{next(_numbers):05d}"
    return number, chat_as(client, number)


def opted_out(stack: Stack, number: str) -> bool:
    with session_scope(stack.database_url) as session:
        return is_opted_out(session, number.replace("+521", "+52"))


def verified(client: TestClient, number: str, digits: str) -> Say:
    """The debtor, verified: by their digits, or already (an earlier test of the same stack verified them)."""
    say = chat_as(client, number)
    if say("hola")[0].startswith("¡Hola! 👋"):
        replies = say(digits)
        assert "Ya confirmé tu identidad" in replies[0], replies
    return say


# --- wrong opt-outs ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["nah dejame pensarlo, después te escribo", "déjame pensarlo y te aviso"])
def test_needing_time_is_given_time(client: TestClient, stack: Stack, text: str) -> None:
    number, say = stranger(client)
    assert say(text) == [render("utter_take_your_time")]
    assert not opted_out(stack, number)


@pytest.mark.parametrize("text", ["nah dejame pensarlo, después te escribo", "ahorita no puedo, luego les escribo",
                                  "lo voy a hablar con mi esposa y luego les digo"])
def test_a_polite_later_never_stops_contact(client: TestClient, stack: Stack, text: str) -> None:
    number, say = stranger(client)
    assert say(text)[0] not in (render("utter_confirm_opt_out"), render("utter_opt_out_confirmed"))
    assert not opted_out(stack, number)


@pytest.mark.parametrize("text", ["ya no me escriban por favor", "no quiero que me sigan contactando"])
def test_a_request_to_stop_is_confirmed_once(client: TestClient, stack: Stack, text: str) -> None:
    number, say = stranger(client)
    assert say(text) == [render("utter_confirm_opt_out")]
    assert not opted_out(stack, number)
    assert say("no") == [render("utter_opt_out_kept")]
    assert say(text) == [render("utter_confirm_opt_out")]
    assert say("sí") == [render("utter_opt_out_confirmed")]
    assert opted_out(stack, number)
    assert say("hola") == []  # nothing automated follows


def test_cancelar_inside_a_plan_cancels_the_plan(client: TestClient, stack: Stack) -> None:
    say = verified(client, LUCIA, "5566")
    assert say("quiero hacer un plan de pagos") == [render("utter_ask_plan_terms")]
    assert say("Cancelar") == [render("utter_plan_cancelled")]
    assert say("cancela") == [render("utter_cancel_what")]  # nothing on the table any more: what to cancel?
    assert not opted_out(stack, LUCIA)


@pytest.mark.parametrize("text", ["/affirm", '/inform{"amount": "1"}', "/stop_contact"])
def test_nobody_can_type_an_intent(client: TestClient, stack: Stack, text: str) -> None:
    number, say = stranger(client)
    replies = say(text)
    assert replies and not opted_out(stack, number)
    with session_scope(stack.database_url) as session:
        assert session.scalars(select(Message.body).join(Conversation).where(
            Conversation.sender_id == f"whatsapp:{number.replace('+521', '+52')}",
            Message.direction == Direction.INBOUND)).one() == text  # kept as sent


# --- silence while waiting for a person -------------------------------------------------------------------

def test_the_answer_to_when_and_how_much_is_acknowledged_and_kept_on_the_case(client: TestClient,
                                                                              stack: Stack) -> None:
    say = verified(client, CARLOS, "5432")
    assert say("ya pagué la semana pasada") == [render("utter_already_paid")]
    told = say("fue el 12, 350 mil por nequi")
    assert len(told) == 1 and told[0].startswith("Recibí tu mensaje y ya quedó en tu caso.")
    receipt = whatsapp_form(CARLOS, "", NumMedia="1", MediaUrl0="https://api.twilio.com/m/1",
                            MediaContentType0="image/jpeg")
    assert twiml_messages(signed_post(client, "/webhooks/twilio/whatsapp", receipt)) == []  # same burst
    with session_scope(stack.database_url) as session:
        conversation = session.scalars(select(Conversation).where(
            Conversation.sender_id == f"whatsapp:{CARLOS}")).one()
        assert conversation.mode is ConversationMode.QUEUED
        handoff = session.scalars(select(Handoff).where(Handoff.conversation_id == conversation.id)).one()
        assert handoff.reason == "already_paid"
        assert [(fact["amount"], fact["attachments"]) for fact in handoff.facts] == [("350000", 0), (None, 1)]
        assert handoff.facts[0]["date"].endswith("-12")


# --- questions debtors really ask ---------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["quién es?", "de donde sacaron mi numero y por que me escriben",
                                  "esto es una estafa o que"])
def test_who_is_writing_is_answered_without_naming_anything(client: TestClient, text: str) -> None:
    _, say = stranger(client)
    replies = say(text)
    assert replies == [render("utter_who_is_writing"), render("utter_not_a_scam"), ask("MX")]
    assert not any(name in " ".join(replies) for name in ("Aurora", "Finanzas", "Telco", "$"))


def test_who_is_writing_names_the_creditor_once_verified(client: TestClient) -> None:
    say = verified(client, LUCIA, "5566")
    replies = say("y ustedes quienes son? por que me escriben?")
    assert "Banco Aurora" in replies[0] and "Préstamo personal" in replies[0]
    assert replies[1].startswith("🔒 Nuestros enlaces de pago siempre empiezan con")


@pytest.mark.parametrize("text", ["a que hora atienden?", "cuál es su horario de atención",
                                  "cuando me va a escribir el asesor?"])
def test_opening_hours(client: TestClient, text: str) -> None:
    _, say = stranger(client)
    assert say(text) == [render("utter_hours", hours="de lunes a viernes, de 09:00 a 19:00 y los sábados, "
                                                     "de 09:00 a 14:00", country="México")]


@pytest.mark.parametrize("text", ["me pueden prestar plata?", "ustedes dan préstamos? necesito 5 mil"])
def test_we_do_not_lend_money(client: TestClient, text: str) -> None:
    _, say = stranger(client)
    assert say(text) == [render("utter_no_loans")]


@pytest.mark.parametrize("text", ["son unos ladrones", "malditos rateros, dejen de robarle a la gente"])
def test_an_insult_gets_a_calm_answer_not_a_balance(client: TestClient, text: str) -> None:
    _, say = stranger(client)
    assert say(text) == [render("utter_stay_calm")]
    assert say("sí")[0].startswith("Listo, te comunico con una persona")


def test_verified_questions_about_the_account(client: TestClient) -> None:
    say = verified(client, LUCIA, "5566")
    certificate = say("necesito el paz y salvo")
    assert certificate[0] == render("utter_paid_certificate_pending")
    assert not any("/p/" in reply for reply in certificate)  # never a payment link for a certificate
    grew = say("por que subio tanto lo que debo? antes era menos")
    assert grew[0] == render("utter_why_amount_grew") and "Intereses: $450.00" in grew[2]
    assert grew[-1] == render("utter_amount_error_offer")
    assert say("cuando es mi proxima cuota?")[0] == render("utter_no_active_plan")
    lowest = say("cual es la cuota mas baja que me pueden dar?")
    assert lowest[0].startswith("Lo más bajo para Préstamo personal:") and lowest[0].endswith("¿Armamos ese plan?")
    created = say("sí")
    assert created[0].startswith("¡Listo, Lucía! Registré tu plan")
    next_one = say("cuando es mi proxima cuota?")
    assert next_one[0].startswith("Te toca tu") and "/p/" in " ".join(next_one)


# --- identity edges ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["soy su esposa, solo dígame si tiene deuda",
                                  "le escribe la hija, mi mamá debe algo con ustedes?"])
def test_someone_fishing_for_another_persons_debt_gets_a_privacy_line(client: TestClient, stack: Stack,
                                                                     text: str) -> None:
    number, say = stranger(client)
    replies = say(text)
    assert replies == [render("utter_third_party")]
    assert not any(name in " ".join(replies) for name in ("Aurora", "Finanzas", "Telco", "$"))
    assert not opted_out(stack, number)  # a relative may be on the debtor's own phone: the number stays


def test_a_relative_on_a_verified_number_hears_nothing_either(client: TestClient) -> None:
    say = verified(client, LUCIA, "5566")
    assert say("hola, le escribe la hija de Lucía, cuánto debe mi mamá?") == [render("utter_third_party")]


def test_asking_which_document_costs_no_attempt_and_one_prompt_a_turn(client: TestClient, stack: Stack) -> None:
    number, say = stranger(client)
    assert say("cuanto debo")[-1] == ask("MX")
    assert say("¿los 4 dígitos de la INE o del CURP?") == [render(
        "utter_identity_which_document", document="INE o CURP (la que registraste con tu cuenta)")]
    assert say("0000") == [retry(2)]
    assert say("0001") == [retry(1)]  # "un último intento", never "1 intentos"
    with session_scope(stack.database_url) as session:
        assert session.scalars(select(IdentityCheck.failed_attempts).where(
            IdentityCheck.phone_e164 == number.replace("+521", "+52"))).one() == 2


@pytest.mark.parametrize("text", ["cambié de número, este es mi nuevo", "les escribo desde otro numero"])
def test_a_new_number_is_offered_a_person(client: TestClient, text: str) -> None:
    _, say = stranger(client)
    assert say(text)[0].startswith("Gracias por escribirnos. Una persona de nuestro equipo atenderá tu mensaje")


# --- voseo ----------------------------------------------------------------------------------------------------

def test_argentines_are_answered_in_voseo(client: TestClient) -> None:
    say = chat_as(client, SOFIA)
    assert say("hola")[-1] == "¿Me compartís los últimos 4 dígitos de tu DNI?"
    assert "Ya confirmé tu identidad" in say("2333")[0]
    assert say("no puedo pagar, me quedé sin laburo")[0] == render("utter_cannot_pay", voseo=True)
