"""Payments at the edge: Stripe's signed webhook, the debtor's short links, and signed PDF downloads."""
from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request, Response
from fastapi.responses import RedirectResponse

from api.deps import DbSession, TransportDep
from api.limits import read_body_capped
from api.pages import notice_page
from api.stripe_webhook import MAX_EVENT_BYTES, accept_and_deliver
from bot.ledger.models import LinkStatus, utcnow
from bot.payments.documents import DocumentLinkError, document_title, open_document
from bot.payments.links import link_by_token

router = APIRouter(tags=["payments"])


@router.post("/webhooks/stripe")
async def stripe_webhook(request: Request, background: BackgroundTasks, transport: TransportDep) -> dict[str, str]:
    raw = await read_body_capped(request, MAX_EVENT_BYTES)  # before the signature check reads it
    outcome = await accept_and_deliver(raw, request.headers.get("Stripe-Signature", ""), background, transport)
    return {"received": "true", "outcome": outcome}


@router.get("/p/{token}", response_model=None)
def open_payment_link(token: str, session: DbSession) -> Response:
    """The link a debtor taps: to the provider's checkout while it is open, else a plain explanation."""
    link = link_by_token(session, token)
    if link is None:
        return notice_page("payment_link_unknown", 404)
    if link.status is LinkStatus.PAID:
        return notice_page("payment_link_paid")
    if link.status in (LinkStatus.EXPIRED, LinkStatus.FAILED) or link.expires_at <= utcnow():
        return notice_page("payment_link_expired", 410)
    return RedirectResponse(link.checkout_url, status_code=303)


@router.get("/p/{token}/gracias", response_model=None)
def payment_done(token: str) -> Response:
    return notice_page("payment_thanks")


@router.get("/d/{token}", response_model=None)
def download_document(token: str, session: DbSession) -> Response:
    """A PDF behind a signed, expiring, revocable link."""
    try:
        document = open_document(session, token, utcnow())
    except DocumentLinkError as exc:
        if exc.reason == "expired":
            return notice_page("document_link_expired", 410)
        if exc.reason == "revoked":
            return notice_page("document_revoked", 410)
        return notice_page("document_link_invalid", 404)
    filename = f"{document_title(document.kind).lower().replace(' ', '-')}-{document.id}.pdf"
    return Response(document.content, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{filename}"',
                             "Cache-Control": "private, no-store"})
