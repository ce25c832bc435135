"""Stripe's signed events in: verify the signature and mode, then hand the event to the ledger.

Shared by the webhook route and the sandbox checkout, whose buttons sign events as Stripe would.
"""
from __future__ import annotations

import json
import logging
from typing import Any

import stripe
from fastapi import BackgroundTasks, HTTPException
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError

from api.worker import flush_outbox
from bot.common.settings import get_settings
from bot.ledger.models import utcnow
from bot.messaging.outbox import Transport
from bot.payments.events import receive_event
from payments import expected_livemode, provider_from_settings
from payments.stripe_events import checkout_event

log = logging.getLogger(__name__)
MAX_EVENT_BYTES = 512 * 1024  # Stripe's events are a few KB


def _check_livemode(payload: dict[str, Any]) -> None:
    """Refuse (400, nothing stored) a signed event of the other mode than this deployment's key.

    Not stored: it is not an event of this ledger, and refusing it (Stripe retries and shows the failures
    on the endpoint) is what makes the misconfigured or leaked secret visible to an operator.
    """
    expected = expected_livemode()
    obj = (payload.get("data") or {}).get("object") or {}
    modes = [payload.get("livemode")] + ([obj["livemode"]] if isinstance(obj, dict) and "livemode" in obj else [])
    if any(mode is not expected for mode in modes):
        log.warning("refused Stripe event %s: livemode %s, this deployment is %s", payload.get("id"),
                    modes, "live" if expected else "test")
        raise HTTPException(status_code=400, detail=f"invalid Stripe event: not a {'live' if expected else 'test'}"
                            "-mode event")


def accept_stripe_event(raw: bytes, signature: str) -> str:
    """Verify the signature on the raw body, check the mode, store the event once, apply it. Returns the outcome."""
    settings = get_settings()
    try:
        stripe.Webhook.construct_event(raw, signature, settings.stripe_webhook_secret,
                                       tolerance=settings.stripe_webhook_tolerance_seconds)
        payload = json.loads(raw)
        if not isinstance(payload, dict):
            raise ValueError("not an object")
        _check_livemode(payload)
        event = checkout_event(payload)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise HTTPException(status_code=400, detail=f"invalid Stripe event: {exc}") from None
    if not event.event_id:
        raise HTTPException(status_code=400, detail="invalid Stripe event: no id")
    try:
        return receive_event(event, utcnow(), provider_from_settings())
    except IntegrityError:  # the same event (or checkout) in flight in another request: Stripe will retry
        raise HTTPException(status_code=409, detail="event already being processed") from None


async def accept_and_deliver(raw: bytes, signature: str, background: BackgroundTasks, transport: Transport) -> str:
    """Apply the event, then send what it queued (receipts) once the response is out."""
    outcome = await run_in_threadpool(accept_stripe_event, raw, signature)
    background.add_task(flush_outbox, transport)
    return outcome
