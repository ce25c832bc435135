"""Debtor-facing copy: short enough for SMS, and every named variable filled."""
import re

import yaml

from bot.common.copy import app_message, render
from bot.common.settings import PROJECT_ROOT

UCS2_TWO_SEGMENTS = 134  # most Spanish text is UCS-2 (á, í, ó, ú are not GSM-7): 67 characters a segment
STATEMENTS = {"utter_account_balance_overdue", "utter_account_balance_not_due"}  # data, one account each
NOT_CHAT = ("page_", "document_", "sandbox_")  # words of web pages and PDFs, never sent as a message


def all_copy() -> dict[str, str]:
    responses = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())["responses"]
    texts = {name if index == 0 else f"{name}[{index}]": variant["text"]  # every variation (voseo too)
             for name, variants in responses.items() for index, variant in enumerate(variants)}
    texts.update(yaml.safe_load((PROJECT_ROOT / "config" / "messages.yml").read_text()))
    return texts


def filled_length(text: str) -> int:
    """Length with each {variable} counted as 12 characters (a first name, a number, a list of methods)."""
    return len(re.sub(r"\{\w+\}", "", text)) + 12 * len(re.findall(r"\{\w+\}", text))


def test_copy_fits_one_or_two_sms_segments() -> None:
    too_long = {name: filled_length(text) for name, text in all_copy().items()
                if name not in STATEMENTS and not name.startswith(NOT_CHAT) and filled_length(text) > UCS2_TWO_SEGMENTS}
    assert too_long == {}


def test_render_fills_variables() -> None:
    assert render("utter_identity_retry", attempts_left=2) == (
        "Ese dato no coincide con nuestros registros. Te quedan 2 intentos: ¿me lo escribes de nuevo?")
    assert app_message("utter_opted_in").startswith("¡Listo!")


def test_voseo_picks_the_vos_variation_and_falls_back_to_the_plain_one() -> None:
    assert "Querés" in render("utter_dispute", voseo=True) and "Quieres" in render("utter_dispute")
    assert render("utter_goodbye", voseo=True) == render("utter_goodbye")  # no variation: the same words
    assert "escribís" in app_message("utter_empty_message", voseo=True)
    assert app_message("utter_opted_in", voseo=True) == app_message("utter_opted_in")
