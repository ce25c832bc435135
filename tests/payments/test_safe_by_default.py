"""Payments and documents that cannot be forged or leaked (issue 13, "Safe by default").

Correctly signed events that disagree with their link or with the deployment's mode, oversized bodies,
guessable sandbox checkouts, identity digits in PDFs, and document links that outlive their purpose.
"""
from __future__ import annotations

import asyncio
import copy
import hashlib
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.requests import Request

from api.limits import read_body_capped
from api.main import create_app
from api.stripe_webhook import MAX_EVENT_BYTES
from bot.common.settings import get_settings
from bot.identity.verification import document_digits
from bot.ledger.models import (
    Account,
    AccountStatus,
    AuditLog,
    ConversationMode,
    Debtor,
    Document,
    LinkStatus,
    Payment,
    PaymentEvent,
    PaymentLink,
)
from bot.negotiation.agreements import create_plan
from bot.negotiation.policy import PlanProposal
from bot.payments.documents import (
    DocumentLinkError,
    debtor_documents,
    document_id_from_token,
    document_url,
    fresh_document_link,
    issue_agreement,
    open_document,
    revoke_document,
)
from bot.payments.links import CheckoutRequest, issue_link
from payments import expected_livemode, provider_from_settings
from payments.sandbox import SandboxCheckout
from tests.conftest import refresh_app_state
from tests.factories import local_today
from tests.fakes.stripe_api import FakeStripe
from tests.fakes.twilio_api import FakeTwilio
from tests.payments.conftest import ANA, CAMILA, account, conversation, deliver, new_link, pdf_text


def count(ledger: Session, model: type) -> int:
    return ledger.scalar(select(func.count()).select_from(model)) or 0


# --- events that disagree with their link ----------------------------------------------------------

def _wrong_amount_low(event: dict[str, Any]) -> None:
    event["data"]["object"]["amount_total"] = 100  # $1.00 for a $14,680.55 link


def _wrong_amount_high(event: dict[str, Any]) -> None:
    event["data"]["object"]["amount_total"] = 146805500  # a hundred times the link: an "overpayment"


def _wrong_currency(event: dict[str, Any]) -> None:
    event["data"]["object"]["currency"] = "usd"  # same digits, other money


def _no_amount(event: dict[str, Any]) -> None:
    del event["data"]["object"]["amount_total"]


@pytest.mark.parametrize(("forge", "outcome"), [(_wrong_amount_low, "amount_mismatch"),
                                                (_wrong_amount_high, "amount_mismatch"),
                                                (_wrong_currency, "currency_mismatch"),
                                                (_no_amount, "amount_mismatch")])
def test_a_signed_paid_event_for_other_money_is_kept_not_applied_and_goes_to_a_person(
        app: TestClient, fake_stripe: FakeStripe, fake_twilio: FakeTwilio, ledger: Session,
        forge: Any, outcome: str) -> None:
    session_id = new_link(ledger, "A-90001", ANA)
    event = copy.deepcopy(fake_stripe.event(session_id, "checkout.session.completed", payment_status="paid"))
    forge(event)  # on a copy: the fake's session (what Stripe holds) stays genuine
    answer = deliver(app, event)
    assert (answer.status_code, answer.json()["outcome"]) == (200, outcome)  # 200: Stripe must not retry it

    ledger.expire_all()
    stored = ledger.scalars(select(PaymentEvent)).one()  # kept, with what happened to it
    assert (stored.event_id, stored.outcome) == (event["id"], outcome) and stored.processed_at is not None
    assert count(ledger, Payment) == 0 and count(ledger, Document) == 0
    link = ledger.scalars(select(PaymentLink)).one()
    assert link.status is LinkStatus.OPEN
    debt = account(ledger, "A-90001")
    assert (debt.status, debt.total) == (AccountStatus.ACTIVE, Decimal("14680.55"))
    assert fake_twilio.sent == []  # no receipt, no letter
    chat = conversation(ledger, ANA)
    assert (chat.mode, chat.mode_reason) == (ConversationMode.QUEUED, outcome)
    alert = ledger.scalars(select(AuditLog).where(AuditLog.action == "payment_mismatch")).one()
    assert alert.entity_id == str(link.id)
    assert alert.details["event_id"] == event["id"] and alert.details["reason"] == outcome
    assert (alert.details["expected_amount"], alert.details["expected_currency"]) == ("14680.55", "MXN")

    # The genuine event still pays the link: a forgery cannot burn it.
    genuine = fake_stripe.event(session_id, "checkout.session.completed", payment_status="paid")
    assert deliver(app, genuine).json()["outcome"] == "paid"
    ledger.expire_all()
    assert [p.amount for p in ledger.scalars(select(Payment))] == [Decimal("14680.55")]


def test_a_voucher_paid_for_another_amount_is_not_applied(app: TestClient, fake_stripe: FakeStripe,
                                                          ledger: Session) -> None:
    session_id = new_link(ledger, "A-90001", ANA)
    assert deliver(app, fake_stripe.event(session_id, "checkout.session.completed",
                                          payment_status="unpaid")).json()["outcome"] == "awaiting_payment"
    paid = deliver(app, fake_stripe.event(session_id, "checkout.session.async_payment_succeeded",
                                          payment_status="paid", amount_total=1468054))  # one centavo short
    assert paid.json()["outcome"] == "amount_mismatch"
    ledger.expire_all()
    assert count(ledger, Payment) == 0
    assert ledger.scalars(select(PaymentLink.status)).one() is LinkStatus.PROCESSING


def test_zero_decimal_amounts_match_their_link(app: TestClient, fake_stripe: FakeStripe, ledger: Session) -> None:
    session_id = new_link(ledger, "F-30021", CAMILA)  # CLP 1,449,500: amount_total 1449500, not 144950000
    assert deliver(app, fake_stripe.event(session_id, "checkout.session.completed",
                                          payment_status="paid")).json()["outcome"] == "paid"
    ledger.expire_all()
    assert account(ledger, "F-30021").status is AccountStatus.PAID


# --- livemode ---------------------------------------------------------------------------------------

def test_the_expected_mode_follows_the_key_and_the_sandbox_is_test_mode(stripe_env: pytest.MonkeyPatch) -> None:
    assert expected_livemode() is False  # sk_test_acuerdo
    for key, live in (("sk_live_abc", True), ("rk_live_abc", True), ("sk_test_abc", False), ("whatever", False)):
        stripe_env.setenv("STRIPE_API_KEY", key)
        get_settings.cache_clear()
        assert expected_livemode() is live, key
    stripe_env.setenv("STRIPE_API_KEY", "sk_live_abc")
    stripe_env.setenv("PAYMENT_PROVIDER", "sandbox")
    get_settings.cache_clear()
    assert expected_livemode() is False


def test_events_of_the_other_mode_are_refused_and_nothing_is_stored(
        app: TestClient, stripe_env: pytest.MonkeyPatch, fake_stripe: FakeStripe, ledger: Session) -> None:
    session_id = new_link(ledger, "A-90001", ANA)
    live = fake_stripe.event(session_id, "checkout.session.completed", payment_status="paid")
    live["livemode"] = True  # a live event at a test deployment: correctly signed, wrong world
    assert deliver(app, live).status_code == 400
    inner = copy.deepcopy(fake_stripe.event(session_id, "checkout.session.completed", payment_status="paid"))
    inner["data"]["object"]["livemode"] = True  # the session disagrees with its event
    assert deliver(app, inner).status_code == 400
    unsaid = fake_stripe.event(session_id, "checkout.session.completed", payment_status="paid")
    del unsaid["livemode"]
    assert deliver(app, unsaid).status_code == 400

    stripe_env.setenv("STRIPE_API_KEY", "sk_live_" + "x" * 24)  # the same deployment, now live
    refresh_app_state()
    test_mode = fake_stripe.event(session_id, "checkout.session.completed", payment_status="paid")
    assert deliver(app, test_mode).status_code == 400  # test money never settles a real debt
    ledger.expire_all()
    assert count(ledger, PaymentEvent) == 0 and count(ledger, Payment) == 0
    assert account(ledger, "A-90001").total == Decimal("14680.55")

    genuine = fake_stripe.event(session_id, "checkout.session.completed", payment_status="paid")
    genuine["livemode"] = genuine["data"]["object"]["livemode"] = True
    assert deliver(app, genuine).json()["outcome"] == "paid"
    ledger.expire_all()
    assert count(ledger, Payment) == 1


# --- request body caps ------------------------------------------------------------------------------

def test_oversized_webhook_bodies_get_413_and_nothing_is_stored(app: TestClient, ledger: Session) -> None:
    declared = app.post("/webhooks/stripe", content=b"x" * (MAX_EVENT_BYTES + 1),
                        headers={"Stripe-Signature": "t=1,v1=0"})
    assert declared.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding chunked
        for _ in range(20):
            yield b"y" * 65536

    chunked = app.post("/webhooks/stripe", content=chunks(), headers={"Stripe-Signature": "t=1,v1=0"})
    assert chunked.status_code == 413
    assert app.post("/webhooks/stripe", content=b"{}", headers={"Stripe-Signature": "t=1,v1=0"}).status_code == 400
    ledger.expire_all()
    assert count(ledger, PaymentEvent) == 0


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": "/webhooks/stripe", "raw_path": b"/webhooks/stripe", "query_string": b"", "root_path": "",
            "headers": [(b"host", b"testserver"), (b"stripe-signature", b"t=1,v1=0"), *headers],
            "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}


class EndlessBody:
    """An ASGI receive that never ends: a client streaming a huge chunked body."""

    def __init__(self, chunk: int = 65536) -> None:
        self.chunk, self.calls = chunk, 0

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        assert self.calls < 10_000, "the body was read without a cap"
        return {"type": "http.request", "body": b"z" * self.chunk, "more_body": True}


def _run(app: Any, scope: dict[str, Any], receive: Any) -> int:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return next(message["status"] for message in sent if message["type"] == "http.response.start")


def test_the_webhook_stops_reading_a_streamed_body_at_the_cap(stripe_env: pytest.MonkeyPatch,
                                                               ledger: Session) -> None:
    app = create_app()
    endless = EndlessBody()
    assert _run(app, _scope([(b"transfer-encoding", b"chunked")]), endless) == 413
    assert endless.calls == MAX_EVENT_BYTES // endless.chunk + 1  # the chunk that crossed the cap, no more

    async def never(*_: Any) -> dict[str, Any]:
        raise AssertionError("a body declared too large must not be read at all")

    assert _run(app, _scope([(b"content-length", b"1000000000")]), never) == 413
    ledger.expire_all()
    assert count(ledger, PaymentEvent) == 0


def test_read_body_capped_returns_small_bodies_and_keeps_them_for_the_parsers() -> None:
    async def scenario() -> tuple[bytes, bytes, Any]:
        parts = [b"a=1&", b"b=2"]

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": parts.pop(0), "more_body": bool(parts)}

        scope = {**_scope([(b"content-type", b"application/x-www-form-urlencoded")]), "path": "/x"}
        request = Request(scope, receive)
        body = await read_body_capped(request, 7)
        return body, await request.body(), dict(await request.form())

    assert asyncio.run(scenario()) == (b"a=1&b=2", b"a=1&b=2", {"a": "1", "b": "2"})

    async def too_big() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"12345678", "more_body": False}
        await read_body_capped(Request(_scope([]), receive), 7)

    with pytest.raises(HTTPException) as refused:
        asyncio.run(too_big())
    assert refused.value.status_code == 413


# --- sandbox checkouts ------------------------------------------------------------------------------

def test_sandbox_checkout_ids_are_random(stripe_env: pytest.MonkeyPatch, ledger: Session) -> None:
    stripe_env.setenv("PAYMENT_PROVIDER", "sandbox")
    get_settings.cache_clear()
    now = datetime.now(UTC)
    first = issue_link(ledger, provider_from_settings(), account(ledger, "A-90001"), "full", now)
    second = issue_link(ledger, provider_from_settings(), account(ledger, "F-30021"), "full", now)
    ids = [first.link.provider_session_id, second.link.provider_session_id]
    assert ids[0] != ids[1] and all(re.fullmatch(r"cs_sandbox_[A-Za-z0-9_-]{32,}", i) for i in ids), ids
    for link in (first.link, second.link):  # nothing about the link is in its id
        assert link.token not in link.provider_session_id
        assert hashlib.sha256(link.idempotency_key.encode()).hexdigest()[:24] not in link.provider_session_id

    # The very same request twice (a retried action) gets two unrelated ids: the id is not a function of it.
    request = CheckoutRequest(reference="ref", amount=Decimal("10.00"), currency="MXN", country="MX",
                              description="x", expires_at=now + timedelta(hours=1), idempotency_key="acuerdo:1:full",
                              metadata={}, success_url="https://x.example/ok", cancel_url="https://x.example/no")
    sandbox = SandboxCheckout(get_settings())
    made = {sandbox.create_checkout(request).session_id for _ in range(50)}
    assert len(made) == 50


# --- PDFs -------------------------------------------------------------------------------------------

def _verification_secrets(debtor: Debtor) -> list[str]:
    digits = document_digits(debtor.document_id)
    assert debtor.birth_date is not None
    return [debtor.document_id, digits, digits[-4:], debtor.birth_date.isoformat(),
            debtor.birth_date.strftime("%d/%m/%Y")]


@pytest.mark.parametrize(("external_id", "sender", "down", "masked"),
                         [("A-90001", ANA, "2000.00", "55********"), ("F-30021", CAMILA, "300000", "12.***.***-*")])
def test_pdfs_never_print_the_digits_that_verify_identity(
        app: TestClient, fake_stripe: FakeStripe, ledger: Session, external_id: str, sender: str, down: str,
        masked: str) -> None:
    debt = account(ledger, external_id)
    country = debt.debtor.country
    plan = create_plan(ledger, debt, PlanProposal(installments=2, down_payment=Decimal(down),
                                                  first_date=local_today(country) + timedelta(days=1)),
                       local_today(country))
    assert plan is not None
    issue_agreement(ledger, plan, debt, datetime.now(UTC))
    ledger.commit()
    session_id = new_link(ledger, external_id, sender)
    assert deliver(app, fake_stripe.event(session_id, "checkout.session.completed",
                                          payment_status="paid")).json()["outcome"] == "paid"
    ledger.expire_all()
    documents = {d.kind: d for d in ledger.scalars(select(Document))}
    assert set(documents) == {"agreement", "receipt", "settlement_letter"}
    debtor = account(ledger, external_id).debtor
    for kind, document in documents.items():
        text = pdf_text(document.content)
        assert debtor.full_name in text, kind
        words = re.split(r"[\s\-]+", text)
        for secret in _verification_secrets(debtor):
            assert secret not in words and (len(secret) <= 4 or secret not in text), (kind, secret, text)
        metadata = " ".join(str(value) for value in (PdfReader(io.BytesIO(document.content)).metadata or {}).values())
        assert document_digits(debtor.document_id)[-4:] not in metadata
    assert f"Documento de identidad {masked}" in pdf_text(documents["settlement_letter"].content)


# --- document links: expiry, revocation, fresh links -------------------------------------------------

def _agreement(ledger: Session) -> tuple[Document, Account]:
    debt = account(ledger, "A-90001")
    today = local_today("MX")
    plan = create_plan(ledger, debt, PlanProposal(installments=3, down_payment=Decimal("2000.00"),
                                                  first_date=today + timedelta(days=1)), today)
    assert plan is not None
    document = issue_agreement(ledger, plan, debt, datetime.now(UTC))
    ledger.commit()
    return document, debt


def _path(url: str) -> str:
    return url[url.index("/d/"):]


def test_document_links_expire_after_the_default_seven_days(app: TestClient, ledger: Session) -> None:
    assert get_settings().document_link_days == 7
    document, debt = _agreement(ledger)
    now = datetime.now(UTC)
    token = _path(document_url(document, debt, now)).removeprefix("/d/")
    assert document_id_from_token(token, now + timedelta(days=7) - timedelta(minutes=1)) == document.id
    with pytest.raises(DocumentLinkError, match="expired"):
        document_id_from_token(token, now + timedelta(days=7, seconds=1))
    stale = app.get(_path(document_url(document, debt, now - timedelta(days=7, minutes=1))))
    assert stale.status_code == 410 and "Enlace vencido" in stale.text
    assert app.get(_path(document_url(document, debt, now - timedelta(days=6)))).status_code == 200


def test_a_revoked_document_answers_410_and_is_audited_once(app: TestClient, ledger: Session) -> None:
    document, debt = _agreement(ledger)
    path = _path(document_url(document, debt, datetime.now(UTC)))
    assert app.get(path).status_code == 200

    revoked = revoke_document(ledger, document.id, "agent:7")
    ledger.commit()
    first_time = revoked.revoked_at
    assert first_time is not None
    page = app.get(path)
    assert page.status_code == 410 and page.headers["content-type"].startswith("text/html")
    assert "Documento anulado" in page.text and "anulado y ya no se puede descargar" in page.text
    assert "application/pdf" not in page.headers["content-type"]
    with pytest.raises(DocumentLinkError, match="revoked"):
        open_document(ledger, path.removeprefix("/d/"), datetime.now(UTC))

    revoke_document(ledger, document.id, "agent:8", datetime.now(UTC) + timedelta(hours=1))
    ledger.commit()
    audits = ledger.scalars(select(AuditLog).where(AuditLog.action == "document_revoked")).all()
    assert [(a.actor, a.entity_id) for a in audits] == [("agent:7", str(document.id))]
    ledger.expire_all()
    assert ledger.get(Document, document.id).revoked_at == first_time  # type: ignore[union-attr]
    with pytest.raises(LookupError):
        revoke_document(ledger, document.id + 1000, "agent:7")


def test_a_verified_debtor_gets_a_fresh_link_to_their_own_document_only(app: TestClient, ledger: Session) -> None:
    document, debt = _agreement(ledger)
    now = datetime.now(UTC)
    old = _path(document_url(document, debt, now - timedelta(days=30)))
    assert app.get(old).status_code == 410

    assert [d.id for d in debtor_documents(ledger, debt.debtor_id)] == [document.id]
    fresh = fresh_document_link(ledger, document.id, debt.debtor_id, now)
    ledger.commit()
    assert fresh.startswith("https://pagos.bancoaurora.example/d/")
    opened = app.get(_path(fresh))
    assert (opened.status_code, opened.headers["content-type"]) == (200, "application/pdf")
    assert "CONVENIO DE PAGO" in pdf_text(opened.content)
    token = _path(fresh).removeprefix("/d/")
    assert document_id_from_token(token, now + timedelta(days=6, hours=23)) == document.id
    assert ledger.scalars(select(AuditLog.entity_id).where(AuditLog.action == "document_link_issued")).all() \
        == [str(document.id)]

    camila = account(ledger, "F-30021").debtor_id
    with pytest.raises(DocumentLinkError, match="invalid"):
        fresh_document_link(ledger, document.id, camila, now)  # someone else's document
    with pytest.raises(DocumentLinkError, match="invalid"):
        fresh_document_link(ledger, document.id + 1000, debt.debtor_id, now)
    revoke_document(ledger, document.id, "agent:7")
    with pytest.raises(DocumentLinkError, match="revoked"):
        fresh_document_link(ledger, document.id, debt.debtor_id, now)
    assert debtor_documents(ledger, debt.debtor_id) == []
