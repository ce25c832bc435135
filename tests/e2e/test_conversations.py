"""Whole conversations through the real Rasa server and the real action server, on a real ledger."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.ledger.db import session_scope
from bot.ledger.models import IdentityCheck, OptOut, Phone
from tests.expected import ASK, GREETING, NEED, ask, hint, retry
from tests.factories import due_phrase

pytestmark = pytest.mark.e2e



def reveals_nothing(replies: list[str]) -> bool:
    text = " ".join(replies)
    return not any(secret in text for secret in (
        "$", "S/", "María", "Juan", "Camila", "Banco Aurora", "Finanzas", "Telco", "Capital", "Total", "atraso"))


def test_mexican_debtor_fails_once_then_hears_the_balance(chat, e2e_database_url: str) -> None:
    maria = chat("whatsapp:+5215512345678")  # WhatsApp's +521 form of +52 55 1234 5678
    replies = maria.say("hola")
    assert replies == [GREETING, ASK]
    replies = maria.say("1234")
    assert replies == [retry(2)]  # one prompt: the retry asks again itself
    replies = maria.say("2211")
    assert replies == ["¡Gracias, María! Ya confirmé tu identidad. ¿En qué te puedo ayudar? "
                       "Puedo decirte tu saldo, por ejemplo."]
    replies = maria.say("cuánto debo?")
    assert replies == [
        "María, este es tu saldo al día de hoy:",
        "Banco Aurora · Tarjeta de crédito (termina en 0001)\nCapital: $12,500.00\nIntereses: $1,830.55\n"
        f"Comisiones: $350.00\nTotal: $14,680.55\n{due_phrase(e2e_database_url, 'AUR-90001')}",
        "¿Te gustaría pagar o armar un plan de pago? Si prefieres, te comunico con una persona.",
    ]


def test_chilean_debtor_asks_first_and_verifies_by_digits_with_birth_date(chat, e2e_database_url: str) -> None:
    camila = chat("sms:+56987654321")
    assert camila.say("cuanto debo") == [NEED, ask("CL")]
    assert camila.say("14/02/1992") == [hint("CL")]  # a birth date alone is never enough
    replies = camila.say("6785 14/02/1992")
    assert replies[0] == "Camila, este es tu saldo al día de hoy:"
    assert replies[1] == ("Finanzas del Norte · Crédito de consumo (termina en 0021)\nCapital: $1.250.000\n"
                          "Intereses: $187.500\nComisiones: $12.000\nTotal: $1.449.500\n"
                          f"{due_phrase(e2e_database_url, 'FDN-30021')}")


def test_a_stranger_asking_for_the_balance_learns_nothing(chat) -> None:
    stranger = chat("whatsapp:+5215599990000")
    replies = stranger.say("cuánto debo?")
    assert replies == [NEED, ASK]
    replies += stranger.say("2211")  # María's digits, from the wrong phone
    assert replies[-1:] == [retry(2)]
    assert reveals_nothing(replies)


def test_three_failures_lock_and_the_lock_survives_a_new_session_and_channel(chat, ledger_url) -> None:
    juan = chat("whatsapp:+5213323456789")
    replies = juan.say("saldo")
    replies += juan.say("0000")
    replies += juan.say("1111")
    locked = juan.say("2222")
    assert locked == ["Por tu seguridad pausé la verificación 30 minutos. Si quieres, te comunico con "
                      "una persona de nuestro equipo. ¿Te parece?"]
    # the right answer no longer opens anything
    replies += juan.say("0011") + juan.say("cuánto debo?")
    juan.say("/session_start")
    replies += juan.say("cuánto debo?")
    replies += chat("sms:+523323456789").say("cuánto debo?")  # the same number over SMS: a new tracker
    assert reveals_nothing(replies + locked)
    assert sum("pausé la verificación" in reply for reply in replies) == 3
    with session_scope(ledger_url) as session:
        check = session.scalars(select(IdentityCheck).join(Phone, Phone.debtor_id == IdentityCheck.debtor_id)
                                .where(Phone.e164 == "+523323456789")).one()
        assert check.locked_until is not None and check.verified_until is None


def test_wrong_person_marks_the_number_and_ends_politely(chat, ledger_url) -> None:
    stranger = chat("whatsapp:+573001234567")
    assert stranger.say("hola") == [GREETING, ask("CO")]
    replies = stranger.say("no soy esa persona")
    assert replies == ["Disculpa la molestia. Registré que este número no corresponde a la persona que buscamos "
                       "y no volveremos a escribirte por este tema."]
    with session_scope(ledger_url) as session:
        assert session.scalars(select(Phone.wrong_number).where(Phone.e164 == "+573001234567")).one() is True
        assert session.scalars(select(OptOut.source).where(OptOut.e164 == "+573001234567")).one() == "wrong_person"
    # even Andrés's own digits no longer open the account from this number
    assert stranger.say("cuánto debo?") == [NEED, ask("CO")]
    assert stranger.say("4050")[0].startswith("Ese dato no coincide")


def test_stop_contact_is_confirmed_once_and_recorded(chat, ledger_url) -> None:
    jose = chat("sms:+51987654321")
    assert jose.say("no me escriban más") == [
        "¿Quieres que dejemos de escribirte? Si es así, responde BAJA. Si solo necesitas tiempo, aquí sigo."]
    assert jose.say("sí") == [
        "Listo, no te enviaremos más mensajes automáticos a este número. Si cambias de opinión, escribe ALTA."]
    with session_scope(ledger_url) as session:
        assert session.scalars(select(OptOut.channel).where(OptOut.e164 == "+51987654321")).one() == "sms"


def test_the_bot_says_it_is_a_virtual_assistant(chat) -> None:
    assert chat("demo:+525500000001").say("eres un robot?") == [
        "Soy un asistente virtual, no una persona. Si prefieres hablar con alguien de nuestro equipo, dime y te "
        "comunico."]


@pytest.mark.parametrize(("index", "text"), list(enumerate(
    ["¡¡¡", "¿?", "🙂", "🙏🙏🙏", "¿¡hola!?", "¿Cuánto debo? 😅", "¡Gracias! 👍", "😡😡😡 ¡¡DEJEN DE ESCRIBIR!!"])))
def test_inverted_marks_and_emoji_never_break_anything(chat, index: int, text: str) -> None:
    replies = chat(f"demo:+5255000002{index:02d}").say(text)
    assert replies and all(reply.strip() for reply in replies)
    assert reveals_nothing(replies)
