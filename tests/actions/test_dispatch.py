"""When the model's guess cannot be right, the words decide (actions.dispatch.understood_intent)."""
from datetime import date

import pytest

from actions.dispatch import understood_intent

TODAY = date(2026, 11, 27)


@pytest.mark.parametrize(("intent", "text", "awaiting", "expected"), [
    ("goodbye", "hasta el viernes", "promise_date", "inform"),  # the answer to "¿hasta cuándo?"
    ("goodbye", "hasta el lunes te pago", None, "promise_to_pay"),
    ("goodbye", "hasta luego, gracias", None, "goodbye"),
    ("goodbye", "hasta el viernes", None, "goodbye"),  # nothing asked, no payment named: a goodbye
    ("offer_amount", "me podría dar chance hasta la quincena?", None, "request_extension"),
    ("nlu_fallback", "dame hasta el viernes porfa", None, "request_extension"),
    ("offer_amount", "dame chance de pagar en 3 cuotas", None, "offer_amount"),  # a plan, not more time
    ("nlu_fallback", "te doy 17 mil y quedamos a mano", None, "offer_amount"),
    ("nlu_fallback", "mmm 500 al mes", "plan_details", "inform"),
    ("nlu_fallback", "asdf qwerty", "plan_details", "nlu_fallback"),
    ("ask_balance", "cuánto debo", None, "ask_balance"),
])
def test_the_words_decide_when_the_guess_cannot_be_right(intent: str, text: str, awaiting: str | None,
                                                         expected: str) -> None:
    assert understood_intent(intent, text, awaiting, TODAY) == expected
