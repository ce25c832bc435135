"""What the local fakes of Twilio and Stripe share: a threaded HTTP server answering JSON."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JSONHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps the connection open between requests, as Twilio's and Stripe's APIs do: the SDKs' pooled
    # sessions then reuse it instead of connecting for every call (a benchmark measured connects, not sends).
    protocol_version = "HTTP/1.1"
    # The headers and the body leave in two writes: without TCP_NODELAY the body waits for the client's delayed
    # acknowledgement of the headers (40 ms a call once the connection is kept).
    disable_nagle_algorithm = True

    def reply(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """Listen on a free local port, in a daemon thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def url_of(server: ThreadingHTTPServer | None) -> str:
    assert server is not None, "the fake is not started"
    host, port = server.server_address[:2]
    return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}"


def shut(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()
