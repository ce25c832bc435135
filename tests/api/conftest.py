"""Requests as Twilio makes them (the app fixtures are in tests/conftest.py)."""
from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TypeVar

from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL

T = TypeVar("T")


def eventually[T](check: Callable[[], T], timeout: float = 30) -> T:
    """What `check` returns once it is truthy: REST mode answers on the app's reply threads, after the webhook."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, f"not within {timeout:.0f} s: {check}"
            return result
        time.sleep(0.05)


def twiml_messages(response) -> list[str]:  # type: ignore[no-untyped-def]
    """The messages of a TwiML answer (and that it is one)."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return [node.text or "" for node in ET.fromstring(response.text).iter("Message")]


def signed_post(client: TestClient, path: str, params: dict[str, str], token: str = AUTH_TOKEN):  # type: ignore[no-untyped-def]
    """POST as Twilio does: form-encoded, X-Twilio-Signature over the public URL and the sorted params."""
    signature = RequestValidator(token).compute_signature(PUBLIC_BASE_URL + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


_sid_counter = iter(range(10**6))


def whatsapp_form(sender: str, body: str, **extra: str) -> dict[str, str]:
    return {"From": f"whatsapp:{sender}", "To": "whatsapp:+15550001111", "Body": body,
            "MessageSid": f"SMtest{next(_sid_counter):026d}", "NumMedia": "0", "AccountSid": "AC" + "0" * 32,
            **extra}


def sms_form(sender: str, body: str, **extra: str) -> dict[str, str]:
    return {**whatsapp_form(sender, body, **extra), "From": sender, "To": "+15550001111"}
