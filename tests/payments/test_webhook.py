"""POST /webhooks/stripe: signed events from the official SDK's point of view, applied once, in any order."""
from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.stripe_webhook import accept_stripe_event
from bot.ledger.balances import next_installment
from bot.ledger.models import (
    AccountStatus,
    AgreementStatus,
    AuditLog,
    ConversationMode,
    Debtor,
    Document,
    LinkStatus,
    Payment,
    PaymentEvent,
    PaymentLink,
    PromiseToPay,
)
from bot.negotiation.agreements import create_plan, settlement_offer
from bot.negotiation.policy import PlanProposal
from bot.payments.documents import DocumentLinkError, document_id_from_token, document_url, issue_agreement
from tests.conftest import STRIPE_SECRET
from tests.factories import local_today
from tests.fakes.stripe_api import FakeStripe, stripe_signature
from tests.fakes.twilio_api import FakeTwilio
from tests.payments.conftest import ANA, CAMILA, account, conversation, deliver, new_link, pdf_text


def document_path(body: str) -> str:
    url = next(word for word in body.split() if "/d/" in word and word.startswith("https://"))
    return url[url.index("/d/"):]


def test_forged_stale_and_altered_events_are_refused_and_change_nothing(
        app: TestClient, fake_stripe: FakeStripe, ledger: Session) -> None:
    event = fake_stripe.event(new_link(ledger, "A-90001", ANA), "checkout.session.completed", payment_status="paid")
    assert deliver(app, event, secret="whsec_someone_else").status_code == 400
    assert deliver(app, event, timestamp=int(time.time()) - 301).status_code == 400  # past Stripe's tolerance
    assert deliver(app, event, tamper=True).status_code == 400
    assert app.post("/webhooks/stripe", content=json.dumps(event)).status_code == 400  # unsigned
    oversized = app.post("/webhooks/stripe", content=b"x" * 600_000, headers={"Stripe-Signature": "t=1,v1=0"})
    assert oversized.status_code == 413
    ledger.expire_all()
    assert ledger.scalar(select(func.count(PaymentEvent.id))) == 0
    assert ledger.scalar(select(func.count(Payment.id))) == 0
    assert account(ledger, "A-90001").total == Decimal("14680.55")


def test_a_paid_checkout_settles_the_account_once_with_a_receipt_and_a_letter(
        app: TestClient, fake_stripe: FakeStripe, fake_twilio: FakeTwilio, ledger: Session) -> None:
    debt = account(ledger, "A-90001")
    ledger.add(PromiseToPay(account_id=debt.id, promised_date=local_today("MX") + timedelta(days=2), amount=None,
                            currency="MXN", created_by="bot"))
    ledger.commit()
    event = fake_stripe.event(new_link(ledger, "A-90001", ANA), "checkout.session.completed", payment_status="paid")

    first = deliver(app, event)
    assert (first.status_code, first.json()["outcome"]) == (200, "paid")
    replay = deliver(app, event)  # Stripe retries: the same event again changes nothing
    assert (replay.status_code, replay.json()["outcome"]) == (200, "duplicate")

    ledger.expire_all()
    debt = account(ledger, "A-90001")
    assert (debt.status, debt.total) == (AccountStatus.PAID, Decimal("0.00"))
    assert [p.amount for p in ledger.scalars(select(Payment))] == [Decimal("14680.55")]
    assert ledger.scalars(select(PromiseToPay.status)).one() == AgreementStatus.KEPT
    assert len(fake_twilio.sent) == 1
    body = fake_twilio.sent[0]["Body"]
    assert body.startswith("¡Gracias, Ana! Recibimos tu pago de $14,680.55 a Banco Aurora. Folio R-")
    assert "¡Tu cuenta quedó liquidada!" in body and body.count("https://pagos.bancoaurora.example/d/") == 2

    letter = app.get(document_path(body.split("carta finiquito")[1]))
    assert (letter.status_code, letter.headers["content-type"]) == (200, "application/pdf")
    text = pdf_text(letter.content)
    for expected in ("CARTA FINIQUITO", "Banco Aurora hace constar que Ana Ruiz liquidó la cuenta A-90001",
                     "Saldo antes de liquidar $14,680.55", "Pagado $14,680.55", "Saldo pendiente $0.00",
                     "queda totalmente saldada", "Documento de identidad 55********"):
        assert expected in text, (expected, text)
    assert "5544332211" not in text and "2211" not in text.replace("-", " ").split()  # masked: they verify identity
    receipt = pdf_text(app.get(document_path(body.split("carta finiquito")[0])).content)
    assert "COMPROBANTE DE PAGO" in receipt and "Monto $14,680.55" in receipt


def test_a_settlement_writes_off_the_agreed_discount(app: TestClient, fake_stripe: FakeStripe,
                                                     fake_twilio: FakeTwilio, ledger: Session) -> None:
    camila = ledger.scalars(select(Debtor).where(Debtor.external_id == "D2")).one()
    offer = settlement_offer(ledger, camila, local_today("CL"))
    assert offer is not None and offer.amount == Decimal("1419575")
    session_id = new_link(ledger, "F-30021", CAMILA, "settlement", amount=offer.amount)
    assert fake_stripe.sessions[session_id]["amount_total"] == 1419575  # CLP: whole pesos
    assert deliver(app, fake_stripe.event(session_id, "checkout.session.completed",
                                          payment_status="paid")).json()["outcome"] == "paid"
    ledger.expire_all()
    assert account(ledger, "F-30021").status is AccountStatus.PAID
    letter = ledger.scalars(select(Document).where(Document.kind == "settlement_letter")).one()
    text = pdf_text(letter.content)
    assert "Saldo antes de liquidar $1.449.500" in text and "Descuento otorgado $29.925" in text
    assert "Recibimos tu pago de $1.419.575" in fake_twilio.sent[0]["Body"]


def test_a_partial_payment_leaves_the_rest_and_an_overpayment_goes_to_a_person(
        app: TestClient, fake_stripe: FakeStripe, fake_twilio: FakeTwilio, ledger: Session) -> None:
    # A checkout charges exactly its link's amount, so a partial payment is a link for part of the balance,
    # and an overpayment is a link issued for more than is left when it is paid.
    session_id = new_link(ledger, "A-90001", ANA, amount=Decimal("5000.00"))
    second = new_link(ledger, "A-90001", ANA)  # the whole balance, 14,680.55, issued before the partial
    partial = fake_stripe.event(session_id, "checkout.session.completed", payment_status="paid")
    assert deliver(app, partial).json()["outcome"] == "paid"
    ledger.expire_all()
    debt = account(ledger, "A-90001")
    assert (debt.status, debt.total, debt.fees, debt.interest) == (AccountStatus.ACTIVE, Decimal("9680.55"),
                                                                   Decimal("0.00"), Decimal("0.00"))
    assert "Tu saldo pendiente es de $9,680.55." in fake_twilio.sent[-1]["Body"]

    third = new_link(ledger, "A-90001", ANA, "settlement", amount=Decimal("100.00"))  # still open elsewhere
    over = fake_stripe.event(second, "checkout.session.completed", payment_status="paid")
    assert deliver(app, over).json()["outcome"] == "paid"
    ledger.expire_all()
    assert account(ledger, "A-90001").status is AccountStatus.PAID
    assert "Pagaste $5,000.00 de más." in fake_twilio.sent[-1]["Body"]
    # Paid off: the other open link is closed at Stripe and here...
    assert fake_stripe.sessions[third]["status"] == "expired"
    assert ledger.scalars(select(PaymentLink.status).where(PaymentLink.provider_session_id == third)).one() \
        is LinkStatus.EXPIRED
    # ...and if it was paid just before it closed, the money is recorded and all of it refunded.
    late = fake_stripe.event(third, "checkout.session.completed", payment_status="paid")
    assert deliver(app, late).json()["outcome"] == "paid"
    assert "Pagaste $100.00 de más." in fake_twilio.sent[-1]["Body"]
    assert "liquidada" not in fake_twilio.sent[-1]["Body"]
    assert ledger.scalar(select(func.count(Document.id)).where(Document.kind == "settlement_letter")) == 1
    chat = conversation(ledger, ANA)
    assert (chat.mode, chat.mode_reason) == (ConversationMode.QUEUED, "overpayment")
    assert [row for row in ledger.scalars(select(AuditLog.details).where(AuditLog.action == "overpayment")
                                          .order_by(AuditLog.id))] == [{"amount": "5000.00"}, {"amount": "100.00"}]


def test_installments_are_paid_in_order_and_a_cash_voucher_settles_late_and_out_of_order(
        app: TestClient, fake_stripe: FakeStripe, fake_twilio: FakeTwilio, ledger: Session) -> None:
    debt = account(ledger, "A-90001")
    today = local_today("MX")
    plan = create_plan(ledger, debt, PlanProposal(installments=2, down_payment=Decimal("2000.00"),
                                                  first_date=today + timedelta(days=1)), today)
    assert plan is not None
    ledger.commit()
    down = next_installment(ledger, debt)
    assert down is not None and down.number == 0
    session_id = new_link(ledger, "A-90001", ANA, "installment", installment=down)
    assert fake_stripe.sessions[session_id]["amount_total"] == 200000

    # OXXO: the async success can arrive before the "completed, unpaid" that issued the voucher.
    paid = fake_stripe.event(session_id, "checkout.session.async_payment_succeeded", payment_status="paid")
    voucher = fake_stripe.event(session_id, "checkout.session.completed", payment_status="unpaid")
    assert deliver(app, paid).json()["outcome"] == "paid"
    assert deliver(app, voucher).json()["outcome"] == "stale"
    ledger.expire_all()
    assert [(i.number, i.status) for i in plan.installments][:2] == [(0, AgreementStatus.KEPT),
                                                                      (1, AgreementStatus.PENDING)]
    assert "Tu siguiente pago es de $6,340.27" in fake_twilio.sent[-1]["Body"]
    assert len(fake_twilio.sent) == 1

    for installment in plan.installments[1:]:
        link_session = new_link(ledger, "A-90001", ANA, "installment", installment=installment)
        deliver(app, fake_stripe.event(link_session, "checkout.session.completed", payment_status="paid"))
    ledger.expire_all()
    assert plan.status is AgreementStatus.KEPT and account(ledger, "A-90001").status is AccountStatus.PAID


def test_a_voucher_that_is_not_paid_tells_the_debtor_and_closes_the_link(
        app: TestClient, fake_stripe: FakeStripe, fake_twilio: FakeTwilio, ledger: Session) -> None:
    session_id = new_link(ledger, "A-90001", ANA)
    token = fake_stripe.sessions[session_id]["client_reference_id"]
    assert app.get(f"/p/{token}", follow_redirects=False).headers["location"] == fake_stripe.sessions[session_id]["url"]
    assert deliver(app, fake_stripe.event(session_id, "checkout.session.completed",
                                          payment_status="unpaid")).json()["outcome"] == "awaiting_payment"
    assert "Tu ficha de pago está lista" in fake_twilio.sent[-1]["Body"]
    assert deliver(app, fake_stripe.event(session_id, "checkout.session.async_payment_failed")).json()["outcome"] \
        == "failed"
    assert "no se completó" in fake_twilio.sent[-1]["Body"]
    ledger.expire_all()
    assert account(ledger, "A-90001").total == Decimal("14680.55")
    assert app.get(f"/p/{token}", follow_redirects=False).status_code == 410


def test_expired_and_unknown_checkouts(app: TestClient, fake_stripe: FakeStripe, ledger: Session) -> None:
    session_id = new_link(ledger, "A-90001", ANA)
    assert deliver(app, fake_stripe.event(session_id, "checkout.session.expired")).json()["outcome"] == "expired"
    ledger.expire_all()
    assert [link.status for link in ledger.scalars(select(PaymentLink))] == [LinkStatus.EXPIRED]
    assert new_link(ledger, "A-90001", ANA) != session_id  # a new link on request

    fake_stripe.sessions["cs_test_nobody"] = {**fake_stripe.sessions[session_id], "id": "cs_test_nobody"}
    unknown = deliver(app, fake_stripe.event("cs_test_nobody", "checkout.session.completed", payment_status="paid"))
    assert (unknown.status_code, unknown.json()["outcome"]) == (200, "unmatched")
    other = deliver(app, {**fake_stripe.event(session_id, "checkout.session.completed"), "type": "invoice.paid"})
    assert other.json()["outcome"] == "ignored"
    ledger.expire_all()
    assert ledger.scalar(select(func.count(Payment.id))) == 0


def test_document_links_are_signed_and_expire(app: TestClient, ledger: Session) -> None:
    debt = account(ledger, "A-90001")
    today = local_today("MX")
    plan = create_plan(ledger, debt, PlanProposal(installments=3, down_payment=Decimal("2000.00"),
                                                  first_date=today + timedelta(days=1)), today)
    assert plan is not None
    now = datetime.now(UTC)
    document = issue_agreement(ledger, plan, debt, now)
    ledger.commit()
    path = document_url(document, debt, now).removeprefix("https://pagos.bancoaurora.example")
    text = pdf_text(app.get(path).content)
    assert "CONVENIO DE PAGO" in text and "Ana Ruiz y Banco Aurora acuerdan" in text
    assert "Pago inicial" in text and "Cuota 3" in text and "$2,000.00" in text
    document_id, expires, signature = path.removeprefix("/d/").split(".")
    assert app.get(f"/d/{int(document_id) + 1}.{expires}.{signature}").status_code == 404  # another document
    assert app.get(f"/d/{document_id}.{int(expires) + 86400}.{signature}").status_code == 404  # a longer life
    with pytest.raises(DocumentLinkError, match="expired"):
        document_id_from_token(path.removeprefix("/d/"), now + timedelta(days=31))


def test_outside_the_whatsapp_window_the_receipt_goes_as_the_approved_template(
        app: TestClient, fake_stripe: FakeStripe, fake_twilio: FakeTwilio, ledger: Session) -> None:
    conversation(ledger, ANA).last_inbound_at = datetime.now(UTC) - timedelta(days=2)
    ledger.commit()
    session_id = new_link(ledger, "A-90001", ANA)
    deliver(app, fake_stripe.event(session_id, "checkout.session.completed", payment_status="paid"))
    receipt = f"R-{ledger.scalars(select(Payment.id)).one():08d}"
    sent = fake_twilio.sent[-1]
    assert sent["ContentSid"] == "HX11110000000000000000000000000001" and "Body" not in sent
    assert json.loads(sent["ContentVariables"]) == {"1": "Ana", "2": "$14,680.55", "3": receipt}


def test_the_same_event_delivered_concurrently_is_applied_once(
        stripe_env: pytest.MonkeyPatch, fake_stripe: FakeStripe, ledger: Session) -> None:
    event = fake_stripe.event(new_link(ledger, "A-90001", ANA), "checkout.session.completed", payment_status="paid")
    raw = json.dumps(event).encode()
    header = stripe_signature(raw, STRIPE_SECRET, int(time.time()))
    outcomes: list[str | int] = []

    def deliver_once() -> None:
        try:
            outcomes.append(accept_stripe_event(raw, header))
        except HTTPException as exc:
            outcomes.append(exc.status_code)  # 409: in flight elsewhere; Stripe retries and gets "duplicate"

    threads = [threading.Thread(target=deliver_once) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("paid") == 1 and set(outcomes) <= {"paid", "duplicate", 409}, outcomes
    assert accept_stripe_event(raw, header) == "duplicate"
    ledger.expire_all()
    assert ledger.scalar(select(func.count(Payment.id))) == 1
    assert account(ledger, "A-90001").total == Decimal("0.00")
