"""Payment providers (Stripe Checkout, the local sandbox) behind bot/'s PaymentProvider interface."""
from __future__ import annotations

from bot.common.settings import Settings, get_settings
from bot.payments.links import PaymentProvider
from payments.stripe_events import key_is_live


def provider_from_settings(settings: Settings | None = None) -> PaymentProvider:
    """The provider PAYMENT_PROVIDER names; every caller (actions, agents, reminders) gets links from it."""
    settings = settings or get_settings()
    if settings.payment_provider == "stripe":
        from payments.stripe_checkout import StripeCheckout

        return StripeCheckout(settings)
    from payments.sandbox import SandboxCheckout

    return SandboxCheckout(settings)


def expected_livemode(settings: Settings | None = None) -> bool:
    """Whether genuine events for this deployment are live-mode: the sandbox is test mode; Stripe follows the key.

    A correctly signed event of the other mode means a secret shared between test and live (or leaked):
    test-mode money must never settle a real debt, nor live money vanish into a test ledger.
    """
    settings = settings or get_settings()
    if settings.payment_provider != "stripe":
        return False
    return key_is_live(settings.stripe_api_key)
