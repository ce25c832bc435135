"""Phone numbers to E.164, as portfolios, Twilio and WhatsApp write them."""
from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

CHANNELS = ("whatsapp", "sms", "demo")

# Mexico dropped the mobile "1" (+521…) and the 044/045/01 dialling prefixes in 2019, but WhatsApp
# still delivers +521 and old address books still hold 044/045 numbers.
_MX_WHATSAPP_MOBILE = re.compile(r"^\+521(\d{10})$")
_MX_OLD_PREFIX = re.compile(r"^(?:044|045|01)(\d{10})$")


class InvalidPhone(ValueError):
    """The text is not a valid phone number for the given country."""


@lru_cache(maxsize=65536)  # a portfolio repeats a debtor's phone on each account; parsing costs ~0.1 ms
def normalize_phone(raw: str, country: str) -> str:
    """E.164 for `raw`, read as a number of `country` (ISO alpha-2) unless it carries its own +code."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone("empty phone number")
    digits = re.sub(r"[^\d+]", "", text)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    mx_whatsapp = _MX_WHATSAPP_MOBILE.match(digits)
    if mx_whatsapp:
        digits = "+52" + mx_whatsapp.group(1)
    elif country.upper() == "MX" and (mx_old := _MX_OLD_PREFIX.match(digits)):
        digits = mx_old.group(1)
    try:
        number = phonenumbers.parse(digits, country.upper())
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"not a phone number: {raw!r}") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"not a valid {country.upper()} phone number: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def split_sender_id(sender_id: str) -> tuple[str, str]:
    """`"whatsapp:+52…"` → ("whatsapp", "+52…"), with the number normalised (conventions)."""
    channel, _, number = sender_id.partition(":")
    if channel not in CHANNELS or not number:
        raise InvalidPhone(f"not a sender id: {sender_id!r}")
    return channel, normalize_phone(number, "ZZ")


def sender_id_for(channel: str, raw_number: str) -> str:
    """The conversation key Rasa sees: `<channel>:<E.164>`."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    return f"{channel}:{normalize_phone(raw_number, 'ZZ')}"
