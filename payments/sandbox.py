"""The demo's payment provider: a local checkout page whose buttons produce the events Stripe would send.

The events have Stripe's shape and Stripe's signature (STRIPE_WEBHOOK_SECRET), and they enter through the
same code as Stripe's webhook, so the demo exercises the real path from payment to receipt.
"""
from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Literal

from bot.common.settings import Settings
from bot.ledger.models import PaymentLink
from bot.payments.links import Checkout, CheckoutRequest
from payments.stripe_events import signature_header, to_minor_units

SandboxOutcome = Literal["card_paid", "voucher_issued", "voucher_paid", "voucher_expired", "link_expired"]
API_VERSION = "2024-06-20"
_EVENTS: dict[SandboxOutcome, tuple[str, str, str]] = {  # outcome → (event type, payment_status, status)
    "card_paid": ("checkout.session.completed", "paid", "complete"),
    "voucher_issued": ("checkout.session.completed", "unpaid", "complete"),
    "voucher_paid": ("checkout.session.async_payment_succeeded", "paid", "complete"),
    "voucher_expired": ("checkout.session.async_payment_failed", "unpaid", "complete"),
    "link_expired": ("checkout.session.expired", "unpaid", "expired"),
}


class SandboxCheckout:
    name = "sandbox"

    def __init__(self, settings: Settings) -> None:
        self._base_url = settings.public_base_url.rstrip("/")

    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        """A new checkout with a random, unguessable id.

        The id is the whole capability to /sandbox/checkout/<id>, whose buttons pay the link, so it must
        not be derivable from anything (an idempotency key built from account ids and times is). Nothing is
        kept on the sandbox's side, so a retried action simply gets another id: there is no second
        checkout to pay, since only the link stored in the ledger has a page.
        """
        session_id = "cs_sandbox_" + secrets.token_urlsafe(24)
        return Checkout(session_id=session_id, url=f"{self._base_url}/sandbox/checkout/{session_id}")

    def expire_checkout(self, session_id: str) -> None:
        """Nothing to do: the sandbox page reads the link's status from the ledger."""


def checkout_session_object(link: PaymentLink, payment_status: str, status: str) -> dict[str, object]:
    """The Checkout Session as Stripe's events carry it (the fields the ledger and an auditor read)."""
    return {
        "id": link.provider_session_id, "object": "checkout.session", "mode": "payment",
        "amount_total": to_minor_units(link.amount, link.currency), "currency": link.currency.lower(),
        "client_reference_id": link.token, "payment_status": payment_status,
        "status": status,
        "expires_at": int(link.expires_at.timestamp()), "livemode": False,
        "metadata": {"account_id": str(link.account_id), "purpose": link.purpose,
                     "plan_id": str(link.plan_id or ""), "installment_id": str(link.installment_id or ""),
                     "link_token": link.token},
    }


def sandbox_event(link: PaymentLink, outcome: SandboxOutcome, secret: str, now: datetime) -> tuple[bytes, str]:
    """The raw body and Stripe-Signature header Stripe would POST for this outcome."""
    event_type, payment_status, status = _EVENTS[outcome]
    event = {"id": f"evt_sandbox_{secrets.token_hex(12)}", "object": "event", "api_version": API_VERSION,
             "created": int(now.timestamp()), "livemode": False, "pending_webhooks": 1, "type": event_type,
             "request": {"id": None, "idempotency_key": None},
             "data": {"object": checkout_session_object(link, payment_status, status)}}
    raw = json.dumps(event, separators=(",", ":")).encode()
    return raw, signature_header(raw, secret, int(now.timestamp()))
