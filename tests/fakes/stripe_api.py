"""A small stateful stand-in for the Stripe API endpoints Acuerdo uses, for the official SDK to talk to.

It keeps Checkout Sessions, honours Idempotency-Key as Stripe does (same key and body: the first response
again; same key, other body: an idempotency_error), checks what Stripe checks for our calls (minor
units, expires_at between 30 minutes and 24 hours, one-time payment mode), and makes the events Stripe
would send, signed the way Stripe signs them. Written from Stripe's documentation, independently of
payments/, so the two can disagree and a test notice.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.http import JSONHandler, serve, shut, url_of

API_KEY_PATTERN = re.compile(r"^Bearer sk_test_\w+$")
CURRENCIES = {"mxn", "clp", "cop", "ars", "pen", "usd"}


def parse_nested_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding (`a[b][0][c]=v`) back into dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = root
        for part, following in zip(parts, parts[1:] + [None], strict=True):
            slot: Any = int(part) if isinstance(node, list) else part
            if isinstance(node, list):
                node.extend([None] * (slot + 1 - len(node)))
            if following is None:
                node[slot] = value
            else:
                if (node[slot] if isinstance(node, list) else node.get(slot)) is None:
                    node[slot] = [] if following.isdigit() else {}
                node = node[slot]
    return root


def stripe_signature(payload: bytes, secret: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


class StripeError(Exception):
    def __init__(self, status: int, kind: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.param = status, kind, param

    def body(self) -> dict[str, Any]:
        return {"error": {"type": self.kind, "message": str(self), **({"param": self.param} if self.param else {})}}


@dataclass
class FakeStripe:
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)  # every create call, as parsed
    idempotent: dict[str, tuple[str, int, dict[str, Any]]] = field(default_factory=dict)
    refuse_next: int = 0  # answer the next N creates with Stripe's 500 api_error (the SDK retries those)
    refuse_expire: bool = False  # answer every expire with a 500
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _events: itertools.count = field(default_factory=lambda: itertools.count(1))
    server: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return url_of(self.server)

    def reset(self) -> None:
        with self.lock:
            self.sessions.clear()
            self.requests.clear()
            self.idempotent.clear()
            self.refuse_next = 0
            self.refuse_expire = False

    # --- the API ------------------------------------------------------------------------------------

    def create_session(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.refuse_next > 0:
            self.refuse_next -= 1
            raise StripeError(500, "api_error", "Something went wrong on Stripe's end.")
        if params.get("mode") != "payment":
            raise StripeError(400, "invalid_request_error", "mode must be payment here", "mode")
        items = params.get("line_items") or []
        if len(items) != 1 or str(items[0].get("quantity")) != "1":
            raise StripeError(400, "invalid_request_error", "one line item of quantity 1", "line_items")
        price = items[0].get("price_data") or {}
        currency = price.get("currency", "")
        if currency not in CURRENCIES:
            raise StripeError(400, "invalid_request_error", f"Invalid currency: {currency}", "currency")
        amount = price.get("unit_amount", "")
        if not re.fullmatch(r"[1-9]\d*", amount):
            raise StripeError(400, "invalid_request_error", "Invalid integer: " + amount,
                              "line_items[0][price_data][unit_amount]")
        expires_at = int(params.get("expires_at", "0"))
        now = int(time.time())
        if not now + 30 * 60 - 5 <= expires_at <= now + 24 * 3600 + 5:
            raise StripeError(400, "invalid_request_error", "expires_at must be between 30 minutes and 24 hours "
                              "from now", "expires_at")
        methods = params.get("payment_method_types") or ["card"]
        if "oxxo" in methods and currency != "mxn":
            raise StripeError(400, "invalid_request_error", "oxxo only supports mxn", "payment_method_types")
        for url_param in ("success_url", "cancel_url"):
            if not str(params.get(url_param, "")).startswith(("http://", "https://")):
                raise StripeError(400, "invalid_request_error", f"Not a valid URL: {url_param}", url_param)
        session_id = f"cs_test_{next(self._ids):024d}"
        session = {"id": session_id, "object": "checkout.session", "mode": "payment", "status": "open",
                   "payment_status": "unpaid", "amount_total": int(amount), "currency": currency,
                   "client_reference_id": params.get("client_reference_id"), "metadata": params.get("metadata", {}),
                   "expires_at": expires_at, "payment_method_types": methods, "livemode": False,
                   "locale": params.get("locale"), "customer_email": params.get("customer_email"),
                   "success_url": params["success_url"], "cancel_url": params["cancel_url"],
                   "url": f"https://checkout.stripe.com/c/pay/{session_id}",
                   "line_items_name": price.get("product_data", {}).get("name")}
        self.sessions[session_id] = session
        return session

    # --- what Stripe would send back --------------------------------------------------------------

    def event(self, session_id: str, event_type: str, *, payment_status: str | None = None,
              amount_total: int | None = None, created: int | None = None) -> dict[str, Any]:
        session = dict(self.sessions[session_id])
        if payment_status is not None:
            session["payment_status"] = payment_status
            session["status"] = "complete"
        if event_type == "checkout.session.expired":
            session["status"] = "expired"
        if amount_total is not None:
            session["amount_total"] = amount_total
        self.sessions[session_id] = session
        return {"id": f"evt_test_{next(self._events):024d}", "object": "event", "api_version": "2024-06-20",
                "created": created or int(time.time()), "livemode": False, "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None}, "type": event_type, "data": {"object": session}}

    def start(self) -> FakeStripe:
        fake = self

        class Handler(JSONHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                # Read before any answer: on a kept connection an unread body would be read as the next request.
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                if not self._authorized():
                    return
                params = parse_nested_form(body)
                if self.path == "/v1/checkout/sessions":
                    key = self.headers.get("Idempotency-Key")
                    with fake.lock:
                        if key and key in fake.idempotent:
                            earlier_body, status, payload = fake.idempotent[key]
                            if earlier_body != body:
                                self._reply(400, StripeError(400, "idempotency_error", "Keys for idempotent "
                                            "requests can only be used with the same parameters they were first "
                                            "used with.").body())
                            else:
                                self._reply(status, payload, replayed=True)
                            return
                        fake.requests.append(params)
                        try:
                            status, payload = 200, fake.create_session(params)
                        except StripeError as error:
                            status, payload = error.status, error.body()
                        if key and status < 500:
                            fake.idempotent[key] = (body, status, payload)
                    self._reply(status, payload)
                    return
                match = re.fullmatch(r"/v1/checkout/sessions/(cs_test_\w+)/expire", self.path)
                if match and fake.refuse_expire:
                    self._reply(500, StripeError(500, "api_error", "Something went wrong on Stripe's end.").body())
                    return
                if match and match.group(1) in fake.sessions:
                    session = fake.sessions[match.group(1)]
                    session["status"] = "expired"
                    self._reply(200, session)
                    return
                self._reply(404, StripeError(404, "invalid_request_error", "Unrecognized request URL").body())

            def do_GET(self) -> None:  # noqa: N802
                if not self._authorized():
                    return
                match = re.fullmatch(r"/v1/checkout/sessions/(cs_test_\w+)", self.path)
                if match and match.group(1) in fake.sessions:
                    self._reply(200, fake.sessions[match.group(1)])
                    return
                self._reply(404, StripeError(404, "invalid_request_error", "No such checkout.session").body())

            def _authorized(self) -> bool:
                if API_KEY_PATTERN.match(self.headers.get("Authorization", "")):
                    return True
                self._reply(401, StripeError(401, "invalid_request_error", "Invalid API Key provided").body())
                return False

            def _reply(self, status: int, payload: dict[str, Any], replayed: bool = False) -> None:
                self.reply(status, payload, {"Request-Id": f"req_{uuid.uuid4().hex[:14]}",
                                             **({"Idempotent-Replayed": "true"} if replayed else {})})

        self.server = serve(Handler)
        return self

    def stop(self) -> None:
        shut(self.server)
