"""What the admin area never shows: an answer to an identity question, and any run of four or more digits (a
document, a card, a phone). One place, used by the NLU inbox and conversation review alike."""
from __future__ import annotations

import re

REDACTED = "▮▮▮▮"
DIGIT_RUN = re.compile(r"\d(?:[\s.\-/]?\d){3,}")
ASKS_FOR_DIGITS = re.compile(r"d[ií]gitos|documento|c[eé]dula|\bRUT\b|\bDNI\b|\bINE\b|CURP", re.IGNORECASE)


def redact(text: str, replacement: str = REDACTED) -> str:
    return DIGIT_RUN.sub(replacement, text)


def asks_for_identity(bot_text: str) -> bool:
    """The bot's message asks for digits of a document: the debtor's next message is an identity answer."""
    return bool(ASKS_FOR_DIGITS.search(bot_text))
