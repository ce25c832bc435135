"""The webhook reads Twilio's url-encoded form itself (api.routes.twilio.form_of): every body must read exactly as
Starlette's own form parser reads it, since the signature is checked over what it reads."""
from __future__ import annotations

import asyncio
from urllib.parse import urlencode

import pytest
from starlette.requests import Request

from api.routes.twilio import form_of

BODIES = [
    urlencode({"Body": "¿Cuánto debo? 🙏 a+b=c & 100%;x", "From": "whatsapp:+5215512345678", "NumMedia": "0",
               "Empty": ""}).encode(),
    b"A=1&A=2&B&C=%ZZ&D=caf\xe9&E=a;b&=v&F=%F0%9F%99%8F+x",  # repeated, bare, bad escape, raw Latin-1, ";", no name
    b"",
    b"&&a=1&&",
]


def _request(body: bytes, content_type: str) -> Request:
    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request({"type": "http", "method": "POST", "path": "/", "query_string": b"",
                    "headers": [(b"content-type", content_type.encode())]}, receive)


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded",
                                          "Application/X-WWW-Form-Urlencoded; charset=UTF-8"])
@pytest.mark.parametrize("body", BODIES)
def test_a_url_encoded_form_reads_as_starlettes(body: bytes, content_type: str) -> None:
    async def both() -> tuple[dict[str, str], dict[str, str]]:
        starlettes = {key: str(value) for key, value in (await _request(body, content_type).form()).multi_items()}
        return starlettes, await form_of(_request(body, content_type), body)

    starlettes, ours = asyncio.run(both())
    assert ours == starlettes


def test_another_body_goes_through_starlettes_parser() -> None:
    body = (b'--b\r\nContent-Disposition: form-data; name="Body"\r\n\r\nhola\r\n--b--\r\n')
    assert asyncio.run(form_of(_request(body, "multipart/form-data; boundary=b"), body)) == {"Body": "hola"}
