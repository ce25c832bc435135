"""Payment providers (Stripe Checkout, the local sandbox) behind bot/'s PaymentProvider interface."""
from __future__ import annotations

from bot.payments import PaymentProvider
from bot.settings import Settings, get_settings


def provider_from_settings(settings: Settings | None = None) -> PaymentProvider:
    """The provider PAYMENT_PROVIDER names; every caller (actions, agents, reminders) gets links from it."""
    settings = settings or get_settings()
    if settings.payment_provider == "stripe":
        from payments.stripe_checkout import StripeCheckout

        return StripeCheckout(settings)
    from payments.sandbox import SandboxCheckout

    return SandboxCheckout(settings)
