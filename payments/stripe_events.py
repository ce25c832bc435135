"""Stripe's side of the wire: minor units, the Stripe-Signature header, and events read into bot/'s shape."""
from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bot.payments.events import CheckoutEvent, EventKind

# Stripe's zero-decimal currencies: amounts are whole units (CLP 1008800 is $1.008.800).
ZERO_DECIMAL = frozenset({"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND",
                          "VUV", "XAF", "XOF", "XPF"})


def to_minor_units(amount: Decimal, currency: str) -> int:
    """Decimal → Stripe's integer amount; refuses fractions the currency cannot carry."""
    scaled = amount.scaleb(0 if currency.upper() in ZERO_DECIMAL else 2)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} {currency} has more decimals than {currency} allows")
    return int(scaled)


def from_minor_units(units: int, currency: str) -> Decimal:
    return Decimal(units) if currency.upper() in ZERO_DECIMAL else Decimal(units).scaleb(-2)


def key_is_live(api_key: str) -> bool:
    """Stripe's keys say their mode: sk_live_/rk_live_ are live, anything else (sk_test_…) is test."""
    return api_key.startswith(("sk_live_", "rk_live_"))


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    """`Stripe-Signature` as Stripe computes it: t=<unix>,v1=HMAC-SHA256(secret, "<t>.<raw body>")."""
    signed = f"{timestamp}.".encode() + payload
    return f"t={timestamp},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


_KINDS: dict[str, EventKind] = {
    "checkout.session.async_payment_succeeded": "paid",
    "checkout.session.async_payment_failed": "payment_failed",
    "checkout.session.expired": "expired",
}


def checkout_event(event: dict[str, Any], provider: str = "stripe") -> CheckoutEvent:
    """A verified Stripe event (already a dict) as the ledger reads it."""
    event_type = str(event.get("type", ""))
    obj: dict[str, Any] = (event.get("data") or {}).get("object") or {}
    if event_type == "checkout.session.completed":
        kind: EventKind = "paid" if obj.get("payment_status") in ("paid", "no_payment_required") else "awaiting_payment"
    else:
        kind = _KINDS.get(event_type, "other")
    is_session = obj.get("object") == "checkout.session"
    currency = str(obj.get("currency") or "").upper() or None
    amount = obj.get("amount_total")
    return CheckoutEvent(
        provider=provider, event_id=str(event.get("id", "")), event_type=event_type,
        kind=kind if is_session else "other", session_id=str(obj["id"]) if is_session and obj.get("id") else None,
        amount=from_minor_units(int(amount), currency) if currency and isinstance(amount, int) else None,
        currency=currency, occurred_at=datetime.fromtimestamp(int(event.get("created") or 0), tz=UTC),
        payload=event)
