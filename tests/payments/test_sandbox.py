"""The sandbox checkout (the demo's provider): its buttons send Stripe's events, signed, through the webhook code."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import stripe
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.main import create_app
from bot.ledger.models import AccountStatus, LinkStatus, PaymentEvent
from bot.payments.links import issue_link
from payments import provider_from_settings
from payments.sandbox import sandbox_event
from tests.conftest import STRIPE_SECRET, refresh_app_state
from tests.fakes.twilio_api import FakeTwilio
from tests.payments.conftest import ANA, account, conversation


@pytest.fixture
def sandbox_app(stripe_env: pytest.MonkeyPatch) -> Iterator[TestClient]:
    stripe_env.setenv("PAYMENT_PROVIDER", "sandbox")
    refresh_app_state()
    with TestClient(create_app()) as client:
        yield client


def test_sandbox_events_are_what_stripe_sends_and_verify_with_the_official_sdk(
        sandbox_app: TestClient, ledger: Session) -> None:
    issued = issue_link(ledger, provider_from_settings(), account(ledger, "A-90001"), "full",
                        datetime.now(UTC))
    raw, header = sandbox_event(issued.link, "card_paid", STRIPE_SECRET, datetime.now(UTC))
    event = stripe.Webhook.construct_event(raw, header, STRIPE_SECRET)
    assert (event["type"], event["data"]["object"]["payment_status"]) == ("checkout.session.completed", "paid")
    session = json.loads(raw)["data"]["object"]
    assert (session["object"], session["amount_total"], session["currency"]) == ("checkout.session", 1468055, "mxn")
    assert session["client_reference_id"] == issued.link.token
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(raw, header, "whsec_another_secret")


def test_a_cash_voucher_in_the_sandbox_is_issued_then_paid(sandbox_app: TestClient, fake_twilio: FakeTwilio,
                                                            ledger: Session) -> None:
    issued = issue_link(ledger, provider_from_settings(), account(ledger, "A-90001"), "full",
                        datetime.now(UTC), conversation=conversation(ledger, ANA))
    ledger.commit()
    page = f"/sandbox/checkout/{issued.link.provider_session_id}"
    assert issued.link.checkout_url.endswith(page)
    first = sandbox_app.get(page).text
    assert "$14,680.55" in first and "Pagar con tarjeta" in first and "no se cobra dinero real" in first

    issued_voucher = sandbox_app.post(page, data={"outcome": "voucher_issued"}).text
    assert "Ficha emitida, pendiente de pago" in issued_voucher and "Simular pago de la ficha" in issued_voucher
    assert "Tu ficha de pago está lista" in fake_twilio.sent[-1]["Body"]
    assert sandbox_app.post(page, data={"outcome": "card_paid"}).status_code == 409  # not from this step

    assert "Estado: Pagado" in sandbox_app.post(page, data={"outcome": "voucher_paid"}).text
    assert "Recibimos tu pago de $14,680.55" in fake_twilio.sent[-1]["Body"]
    ledger.expire_all()
    assert account(ledger, "A-90001").status is AccountStatus.PAID and issued.link.status is LinkStatus.PAID
    assert [e.event_type for e in ledger.scalars(select(PaymentEvent).order_by(PaymentEvent.id))] == [
        "checkout.session.completed", "checkout.session.async_payment_succeeded"]
    assert sandbox_app.get("/sandbox/checkout/cs_sandbox_nothing").status_code == 404
