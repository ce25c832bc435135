"""Payments at the edge: Stripe's signed webhook, the debtor's short links, and signed PDF downloads."""
from __future__ import annotations

import json
import logging
from html import escape
from typing import Any

import stripe
from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.exc import IntegrityError

from api.deps import get_transport
from api.limits import read_body_capped
from api.worker import flush_outbox
from bot.common.copy import app_message
from bot.common.settings import get_settings
from bot.ledger.db import session_scope
from bot.ledger.models import LinkStatus, utcnow
from bot.messaging.outbox import Transport
from bot.payments.documents import TITLES, DocumentLinkError, open_document
from bot.payments.events import apply_event, store_event
from bot.payments.links import link_by_token
from payments import expected_livemode, provider_from_settings
from payments.stripe_events import checkout_event

log = logging.getLogger(__name__)
router = APIRouter(tags=["payments"])
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
    now = utcnow()
    try:
        with session_scope() as session:  # kept before it is acted on
            if store_event(session, event, now) is None:
                return "duplicate"
        with session_scope() as session:
            return apply_event(session, event, now, provider_from_settings())
    except IntegrityError:  # the same event (or checkout) in flight in another request: Stripe will retry
        raise HTTPException(status_code=409, detail="event already being processed") from None


async def accept_and_deliver(raw: bytes, signature: str, background: BackgroundTasks, transport: Transport) -> str:
    """The webhook's path, shared with the sandbox: apply the event, then send what it queued (receipts)."""
    outcome = await run_in_threadpool(accept_stripe_event, raw, signature)
    background.add_task(flush_outbox, transport)
    return outcome


@router.post("/webhooks/stripe")
async def stripe_webhook(request: Request, background: BackgroundTasks,
                         transport: Transport = Depends(get_transport)) -> dict[str, str]:
    raw = await read_body_capped(request, MAX_EVENT_BYTES)  # before the signature check reads it
    outcome = await accept_and_deliver(raw, request.headers.get("Stripe-Signature", ""), background, transport)
    return {"received": "true", "outcome": outcome}


def html_page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    """A small phone-friendly page; `body` is HTML the caller has escaped."""
    return HTMLResponse(status_code=status_code, content=(
        "<!doctype html><html lang='es'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title></head><body style='font-family: system-ui, sans-serif; max-width: 32rem; "
        f"margin: 2rem auto; padding: 0 1rem'>{body}</body></html>"))


def notice_page(name: str, status_code: int = 200) -> HTMLResponse:
    """A one-paragraph page whose words are config/messages.yml's `page_<name>_title` and `page_<name>_text`."""
    title, text = app_message(f"page_{name}_title"), app_message(f"page_{name}_text")
    return html_page(title, f"<h1>{escape(title)}</h1><p>{escape(text)}</p>", status_code)


@router.get("/p/{token}", response_model=None)
def open_payment_link(token: str) -> Response:
    """The link a debtor taps: to the provider's checkout while it is open, else a plain explanation."""
    with session_scope() as session:
        link = link_by_token(session, token)
        if link is None:
            return notice_page("payment_link_unknown", 404)
        if link.status is LinkStatus.PAID:
            return notice_page("payment_link_paid")
        if link.status in (LinkStatus.EXPIRED, LinkStatus.FAILED) or link.expires_at <= utcnow():
            return notice_page("payment_link_expired", 410)
        return RedirectResponse(link.checkout_url, status_code=303)


@router.get("/p/{token}/gracias")
def payment_done(token: str) -> HTMLResponse:
    return notice_page("payment_thanks")


@router.get("/d/{token}", response_model=None)
def download_document(token: str) -> Response:
    """A PDF behind a signed, expiring, revocable link."""
    with session_scope() as session:
        try:
            document = open_document(session, token, utcnow())
        except DocumentLinkError as exc:
            if exc.reason == "expired":
                return notice_page("document_link_expired", 410)
            if exc.reason == "revoked":
                return notice_page("document_revoked", 410)
            return notice_page("document_link_invalid", 404)
        filename = f"{TITLES[document.kind].lower().replace(' ', '-')}-{document.id}.pdf"
        return Response(document.content, media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{filename}"',
                                 "Cache-Control": "private, no-store"})
