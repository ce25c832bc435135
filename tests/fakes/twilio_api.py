"""A local stand-in for Twilio's REST API (the Messages resource), for the official SDK to talk to.

Only the HTTP boundary is faked: our code sends through `twilio.rest.Client` exactly as in production.
"""
from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs

from tests.fakes.http import JSONHandler, serve, shut, url_of


@dataclass
class FakeTwilio:
    sent: list[dict[str, str]] = field(default_factory=list)
    blocked: set[str] = field(default_factory=set)  # numbers that answer error 21610
    _ids: itertools.count = field(default_factory=itertools.count)
    server: ThreadingHTTPServer | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # when Twilio "created" a message
    latency: float = 0.0  # seconds each send takes (Twilio's API is not instant)
    in_flight: Counter[str] = field(default_factory=Counter)  # sends being answered now, by recipient
    most_in_flight: Counter[str] = field(default_factory=Counter)  # the most at once, by recipient
    _flight: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return url_of(self.server)

    def start(self) -> FakeTwilio:
        fake = self

        class Handler(JSONHandler):
            def do_GET(self) -> None:  # noqa: N802 - the Messages list the SDK pages through (To filter only)
                path, _, query = self.path.partition("?")
                if not path.endswith("/Messages.json"):
                    self.reply(404, {"code": 20404, "message": "not found", "status": 404})
                    return
                to = parse_qs(query).get("To", [None])[0]
                found = [fake.resource(form) for form in reversed(fake.sent) if to in (None, form.get("To"))]
                self.reply(200, {"messages": found, "next_page_uri": None, "previous_page_uri": None,
                                  "first_page_uri": path, "uri": self.path, "page": 0, "page_size": 50,
                                  "start": 0, "end": len(found)})

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", 0))
                form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
                if not self.path.endswith("/Messages.json") or "/Accounts/AC" not in self.path:
                    self.reply(404, {"code": 20404, "message": "not found", "status": 404})
                    return
                to = form.get("To", "").removeprefix("whatsapp:")
                if to in fake.blocked:
                    self.reply(400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient",
                                      "status": 400, "more_info": "https://www.twilio.com/docs/errors/21610"})
                    return
                with fake._flight:
                    fake.in_flight[to] += 1
                    fake.most_in_flight[to] = max(fake.most_in_flight[to], fake.in_flight[to])
                time.sleep(fake.latency)
                with fake._flight:
                    fake.in_flight[to] -= 1
                sid = f"SM{next(fake._ids):032x}"
                record = {**form, "Sid": sid, "AccountSid": self.path.split("/")[3],
                          "DateCreated": format_datetime(fake.clock().astimezone(UTC), usegmt=True)}
                fake.sent.append(record)  # (never fake.sent[-1]: the server answers requests in parallel)
                self.reply(201, fake.resource(record))

        self.server = serve(Handler)
        return self

    @staticmethod
    def resource(form: dict[str, str]) -> dict[str, str | None]:
        return {"sid": form["Sid"], "status": "queued", "to": form.get("To"), "from": form.get("From"),
                "body": form.get("Body"), "account_sid": form["AccountSid"], "num_segments": "1",
                "direction": "outbound-api", "date_created": form["DateCreated"]}

    def stop(self) -> None:
        shut(self.server)
