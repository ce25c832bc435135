"""The Rasa client against small local HTTP servers that answer slowly, emptily, or not at all."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.messaging.dialogue import DialogueUnavailable, RasaDialogue
from scripts.services import free_port


def serve(behaviour: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if behaviour == "slow":
                time.sleep(3)
            body = {"empty": [], "blank": [{"recipient_id": "x", "text": "  "}], "slow": [{"text": "tarde"}],
                    "ok": [{"recipient_id": "x", "text": "hola"}],
                    "error": None}[behaviour]
            status = 500 if behaviour == "error" else 200
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def rasa_like(request: pytest.FixtureRequest) -> Iterator[str]:
    server = serve(request.param)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("rasa_like", ["ok"], indirect=True)
def test_replies_are_the_texts(rasa_like: str) -> None:
    assert RasaDialogue(rasa_like, timeout_seconds=2).respond("sms:+525512345678", "hola", {}) == ["hola"]


@pytest.mark.parametrize("rasa_like", ["empty", "blank", "slow", "error"], indirect=True)
def test_empty_slow_or_failing_rasa_is_unavailable(rasa_like: str) -> None:
    started = time.monotonic()
    with pytest.raises(DialogueUnavailable):
        RasaDialogue(rasa_like, timeout_seconds=1).respond("sms:+525512345678", "hola", {})
    assert time.monotonic() - started < 2.5  # the timeout holds; the debtor is not kept waiting


def test_rasa_not_listening_is_unavailable() -> None:
    with pytest.raises(DialogueUnavailable):
        RasaDialogue(f"http://127.0.0.1:{free_port()}", timeout_seconds=1).respond("sms:+525512345678", "hola", {})
