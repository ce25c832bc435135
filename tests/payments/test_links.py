"""Payment links: stored, reused, idempotent, in the currency's minor units, through the official SDK."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.ledger.models import AuditLog, LinkStatus, PaymentLink
from bot.payments.links import PaymentProviderError, issue_link, withdraw_links
from payments import provider_from_settings
from payments.stripe_events import from_minor_units, to_minor_units
from tests.fakes.stripe_api import FakeStripe
from tests.payments.conftest import ANA, account, conversation


def test_minor_units_follow_the_currency() -> None:
    assert to_minor_units(Decimal("14680.55"), "MXN") == 1468055
    assert to_minor_units(Decimal("1449500"), "CLP") == 1449500  # zero-decimal: whole pesos
    assert to_minor_units(Decimal("385000.00"), "COP") == 38500000
    assert from_minor_units(1468055, "mxn") == Decimal("14680.55")
    assert from_minor_units(1449500, "CLP") == Decimal("1449500")
    with pytest.raises(ValueError):
        to_minor_units(Decimal("1449500.50"), "CLP")
    with pytest.raises(ValueError):
        to_minor_units(Decimal("10.005"), "MXN")


def test_a_link_is_stored_on_the_creditors_domain_and_reused_while_open(ledger: Session) -> None:
    now = datetime.now(UTC)
    debt = account(ledger, "A-90001")
    first = issue_link(ledger, provider_from_settings(), debt, "full", now, conversation=conversation(ledger, ANA))
    assert first.url == f"https://pagos.bancoaurora.example/p/{first.link.token}"
    assert first.prefix == "https://pagos.bancoaurora.example/"
    assert (first.link.amount, first.link.currency, first.link.status) == (Decimal("14680.55"), "MXN", LinkStatus.OPEN)
    assert first.link.provider == "sandbox" and first.link.provider_session_id.startswith("cs_sandbox_")
    assert timedelta(hours=23, minutes=50) <= first.link.expires_at - now <= timedelta(hours=24)
    again = issue_link(ledger, provider_from_settings(), debt, "full", now + timedelta(hours=1))
    assert again.link.id == first.link.id
    later = issue_link(ledger, provider_from_settings(), debt, "full", now + timedelta(hours=25))
    assert later.link.id != first.link.id and later.link.token != first.link.token
    assert len(ledger.scalars(select(PaymentLink)).all()) == 2


def test_nonsense_amounts_are_refused(ledger: Session) -> None:
    debt = account(ledger, "A-90001")
    now = datetime.now(UTC)
    for amount in (Decimal("0"), Decimal("-5"), Decimal("14680.56")):
        with pytest.raises(ValueError):
            issue_link(ledger, provider_from_settings(), debt, "settlement", now, amount=amount)
    assert ledger.scalars(select(PaymentLink)).all() == []


def test_a_stripe_checkout_carries_amount_currency_expiry_and_metadata(
        stripe_env: pytest.MonkeyPatch, fake_stripe: FakeStripe, ledger: Session) -> None:
    now = datetime.now(UTC)
    issued = issue_link(ledger, provider_from_settings(), account(ledger, "A-90001"), "full", now)
    sent = fake_stripe.requests[-1]
    price = sent["line_items"][0]["price_data"]
    assert (price["currency"], price["unit_amount"]) == ("mxn", "1468055")
    assert sent["payment_method_types"] == ["card", "oxxo"]  # Mexico: cash at OXXO, one-time payments
    assert sent["payment_method_options"] == {"oxxo": {"expires_after_days": "3"}}
    assert sent["client_reference_id"] == issued.link.token
    assert sent["metadata"]["account_id"] == str(issued.link.account_id) and sent["metadata"]["purpose"] == "full"
    assert int(sent["expires_at"]) == int(issued.link.expires_at.timestamp())
    assert issued.link.checkout_url == fake_stripe.sessions[issued.link.provider_session_id]["url"]

    chile = issue_link(ledger, provider_from_settings(), account(ledger, "F-30021"), "settlement", now,
                       amount=Decimal("1419575"))
    sent = fake_stripe.requests[-1]
    product = {"name": "Finanzas del Norte · Crédito de consumo · 0021"}
    assert sent["line_items"][0]["price_data"] == {"currency": "clp", "unit_amount": "1419575", "product_data": product}
    assert sent["payment_method_types"] == ["card"] and chile.url.startswith("https://pagar.finanzasnorte.example/p/")


def test_a_retried_action_opens_one_checkout(stripe_env: pytest.MonkeyPatch, fake_stripe: FakeStripe,
                                             ledger: Session) -> None:
    # Retries inside one 5-minute issue window repeat the request exactly (the key and expiry come from it).
    now = datetime.fromtimestamp(int(time.time()) // 300 * 300, tz=UTC)
    debt_id = account(ledger, "A-90001").id
    issue_link(ledger, provider_from_settings(), account(ledger, "A-90001"), "full", now)
    ledger.rollback()  # the action died after Stripe answered: nothing of ours was kept
    retried = issue_link(ledger, provider_from_settings(), account(ledger, "A-90001"), "full",
                         now + timedelta(seconds=20))
    ledger.commit()
    assert len(fake_stripe.requests) == 1 and len(fake_stripe.sessions) == 1  # the second call was a replay
    assert retried.link.provider_session_id in fake_stripe.sessions
    assert [link.account_id for link in ledger.scalars(select(PaymentLink))] == [debt_id]


def test_when_stripe_fails_nothing_is_stored(stripe_env: pytest.MonkeyPatch, fake_stripe: FakeStripe,
                                             ledger: Session) -> None:
    fake_stripe.refuse_next = 10  # more than the SDK's retries
    with pytest.raises(PaymentProviderError):
        issue_link(ledger, provider_from_settings(), account(ledger, "A-90001"), "full", datetime.now(UTC))
    assert ledger.scalars(select(PaymentLink)).all() == []


def test_withdrawn_links_close_at_stripe_and_here_even_when_stripe_fails(
        stripe_env: pytest.MonkeyPatch, fake_stripe: FakeStripe, ledger: Session) -> None:
    now = datetime.now(UTC)
    debt = account(ledger, "A-90001")
    full = issue_link(ledger, provider_from_settings(), debt, "full", now)
    settlement = issue_link(ledger, provider_from_settings(), debt, "settlement", now, amount=Decimal("14000.00"))
    assert withdraw_links(ledger, provider_from_settings(), debt.id, now, keep=full.link) == [settlement.link]
    assert fake_stripe.sessions[settlement.link.provider_session_id]["status"] == "expired"
    assert fake_stripe.sessions[full.link.provider_session_id]["status"] == "open"

    fake_stripe.refuse_expire = True
    assert withdraw_links(ledger, provider_from_settings(), debt.id, now) == [full.link]
    assert full.link.status is LinkStatus.EXPIRED
    failure = ledger.scalars(select(AuditLog).where(AuditLog.action == "payment_link_expire_failed")).one()
    assert failure.entity_id == str(full.link.id)
