"""The Rasa client against small local HTTP servers that answer slowly, emptily, or not at all."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.messaging.dialogue import DialogueUnavailable, RasaDialogue, normalized, replica_for, replicas
from scripts.services import free_port


def serve(behaviour: str, seen: list[str] | None = None) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            request = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if seen is not None:
                seen.append(json.loads(request).get("sender") or self.path.split("?")[0])
            if behaviour == "slow":
                time.sleep(3)
            body = {"empty": [], "blank": [{"recipient_id": "x", "text": "  "}], "slow": [{"text": "tarde"}],
                    "ok": [{"recipient_id": "x", "text": "hola"}],
                    "error": None}[behaviour]
            if self.path.startswith("/model/parse") and behaviour == "ok":
                body = {"intent": {"name": "greet", "confidence": 0.9}}
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


def test_a_role_of_replicas_keeps_each_debtor_on_one_and_spreads_them() -> None:
    """RASA_URL "a,b": each debtor's turns go to one replica (its turns never race between two), the debtors are
    spread over both, and a parse (nobody's) takes them in turn."""
    seen: dict[str, list[str]] = {"a": [], "b": []}
    servers = {name: serve("ok", seen[name]) for name in seen}
    role = " , ".join(f"http://127.0.0.1:{server.server_address[1]}/" for server in servers.values())
    try:
        dialogue = RasaDialogue(role, timeout_seconds=2)
        senders = [f"sms:+5255123400{index:02d}" for index in range(40)]
        for _ in range(2):
            for sender in senders:
                assert dialogue.respond(sender, "hola", {}) == ["hola"]
        assert set(seen["a"]).isdisjoint(seen["b"]) and set(seen["a"]) | set(seen["b"]) == set(senders)
        assert all(seen["a"].count(sender) == 2 for sender in seen["a"])  # both turns on the same replica
        assert 10 <= len(set(seen["a"])) <= 30
        for name in seen:
            seen[name].clear()
        assert [dialogue.parse("hola") for _ in range(4)] == [("greet", 0.9)] * 4
        assert seen["a"] == seen["b"] == ["/model/parse"] * 2
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()


def test_replica_lists_are_read_the_same_way_everywhere() -> None:
    assert replicas("http://a:5005/, http://b:5005 ,") == ["http://a:5005", "http://b:5005"]
    assert normalized(" http://a:5005/ ") == "http://a:5005" and normalized("http://a:5005/,http://b:5005") == (
        "http://a:5005,http://b:5005")
    assert replica_for(["http://a:5005"], "sms:+525512345678") == "http://a:5005"
    assert replica_for(["x", "y"], "sms:+525512345678") == replica_for(["x", "y"], "sms:+525512345678")
