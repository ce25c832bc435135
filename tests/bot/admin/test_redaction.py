"""What the admin area never shows (NLU inbox, conversation review): identity answers and runs of digits."""
from __future__ import annotations

import pytest

from bot.admin.redaction import REDACTED, is_identity_answer, redact

ASKED = "¿Me compartes los últimos 4 dígitos de tu DNI?"


@pytest.mark.parametrize(("text", "shown"), [
    ("me cobraron en la tarjeta 4111 1111 1111 1111", f"me cobraron en la tarjeta {REDACTED}"),
    ("mi rut es 12.345.678-5", f"mi rut es {REDACTED}"),
    ("te pago 500 el 15", "te pago 500 el 15"),  # amounts and days stay readable
    ("llamame al 55-1234-5678", f"llamame al {REDACTED}"),
    ("mi cedula 1,033,445,566", f"mi cedula {REDACTED}"),
    ("son 4 - 4 - 3 - 3", f"son {REDACTED}"),
])
def test_runs_of_four_or_more_digits_are_blacked_out(text: str, shown: str) -> None:
    assert redact(text) == shown


@pytest.mark.parametrize(("previous", "text", "answer"), [
    (ASKED, "4444", True),
    (ASKED, "son 4 4 4 4", True),
    (ASKED, "12 de marzo del 85", True),
    (ASKED, "doce de marzo", True),  # a birth date in words
    (ASKED, "cuatro cuatro tres tres", True),
    ("Ese dato no coincide con nuestros registros. ¿Me lo escribes de nuevo?", "15 de marzo de 1985", True),
    (ASKED, "quiero hablar con una persona", False),
    (ASKED, "no se cual es", False),
    ("¿En qué te puedo ayudar?", "4444", False),  # not asked: an amount, maybe; redact() still covers it
])
def test_an_identity_answer_is_a_message_with_digits_or_a_date_after_the_question(
        previous: str, text: str, answer: bool) -> None:
    assert is_identity_answer(previous, text) is answer
