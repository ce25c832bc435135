"""Stripe Checkout through the official SDK: one Checkout Session per payment, idempotent by key."""
from __future__ import annotations

import stripe

from bot.common import config
from bot.common.settings import Settings
from bot.payments.links import Checkout, CheckoutRequest, PaymentProviderError
from payments.stripe_events import to_minor_units


class StripeCheckout:
    name = "stripe"

    def __init__(self, settings: Settings) -> None:
        addresses = {"api": settings.stripe_api_base.rstrip("/")} if settings.stripe_api_base else {}
        self._client = stripe.StripeClient(settings.stripe_api_key, base_addresses=addresses,  # type: ignore[arg-type]
                                           max_network_retries=2)
        self._voucher_days = settings.cash_voucher_days

    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        methods = list(config.country(request.country).checkout_methods)
        params: dict[str, object] = {
            "mode": "payment",
            "line_items": [{"quantity": 1, "price_data": {
                "currency": request.currency.lower(), "unit_amount": to_minor_units(request.amount, request.currency),
                "product_data": {"name": request.description}}}],
            "client_reference_id": request.reference,
            "metadata": request.metadata,
            "payment_intent_data": {"metadata": request.metadata, "description": request.description},
            "expires_at": int(request.expires_at.timestamp()),
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "payment_method_types": methods,
            "locale": "es-419",
        }
        if "oxxo" in methods:  # a cash voucher: paid later, settled by checkout.session.async_payment_*
            params["payment_method_options"] = {"oxxo": {"expires_after_days": self._voucher_days}}
        if request.customer_email:
            params["customer_email"] = request.customer_email
        try:
            session = self._client.v1.checkout.sessions.create(
                params=params, options={"idempotency_key": request.idempotency_key})  # type: ignore[arg-type]
        except stripe.StripeError as exc:
            raise PaymentProviderError(f"Stripe refused the checkout: {exc.user_message or exc}") from exc
        if not session.url:
            raise PaymentProviderError(f"Stripe returned checkout {session.id} without a URL")
        return Checkout(session_id=session.id, url=session.url)

    def expire_checkout(self, session_id: str) -> None:
        try:
            self._client.v1.checkout.sessions.expire(session_id)
        except stripe.StripeError as exc:
            raise PaymentProviderError(f"Stripe could not expire {session_id}: {exc.user_message or exc}") from exc
