"""What the admin area never shows: an answer to an identity question, and any run of four or more digits (a
document, a card, a phone), wherever it appears. One place, used by the NLU inbox and conversation review alike."""
from __future__ import annotations

import re

REDACTED = "▮▮▮▮"
DIGIT_RUN = re.compile(r"\d(?:[\s.,\-/]{0,3}\d){3,}")  # "1,033,445,566", "4 - 4 - 4 - 4" too
ASKS_FOR_DIGITS = re.compile(r"d[ií]gitos|documento|c[eé]dula|\bRUT\b|\bDNI\b|\bINE\b|CURP|no coincide|"
                             r"escrib[ií]s de nuevo|escribes de nuevo|fecha de nacimiento", re.IGNORECASE)


def redact(text: str, replacement: str = REDACTED) -> str:
    return DIGIT_RUN.sub(replacement, text)


_MONTHS = re.compile(r"\b(ene|feb|mar|abr|may|jun|jul|ago|sep|set|oct|nov|dic)[a-z]*\b", re.IGNORECASE)
_NUMBER_WORDS = re.compile(r"\b(cero|uno|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez)\b", re.IGNORECASE)


def is_identity_answer(previous_bot_text: str, text: str) -> bool:
    """After a question for document digits, a message with digits, number words or a month (a birth date) is an
    answer and is never shown; "quiero hablar con una persona" is not one, and stays useful for review and
    training."""
    return asks_for_identity(previous_bot_text) and (any(ch.isdigit() for ch in text) or bool(
        _MONTHS.search(text)) or bool(_NUMBER_WORDS.search(text)))


def asks_for_identity(bot_text: str) -> bool:
    """The bot's message asks for digits of a document: the debtor's next message is an identity answer."""
    return bool(ASKS_FOR_DIGITS.search(bot_text))
