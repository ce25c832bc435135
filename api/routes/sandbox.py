"""The sandbox checkout page (PAYMENT_PROVIDER=sandbox): pay or fail a link, as Stripe's page would.

Its buttons build the signed event Stripe would POST and hand it to the Stripe webhook's own code, then
redirect back to the page (post/redirect/get), which shows the link's new state.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from api.deps import DbSession, TransportDep
from api.pages import notice_page, render_page
from api.stripe_webhook import accept_and_deliver
from bot.common.copy import app_message
from bot.common.locale import format_money, locale_for_country
from bot.common.settings import get_settings
from bot.ledger.models import LinkStatus, utcnow
from bot.payments.links import link_by_session
from payments.sandbox import SandboxOutcome, sandbox_event

router = APIRouter(prefix="/sandbox", tags=["sandbox"])
# What each step of a link can become; the labels are config/messages.yml's `sandbox_button_<outcome>`.
OUTCOMES: dict[LinkStatus, list[SandboxOutcome]] = {
    LinkStatus.OPEN: ["card_paid", "voucher_issued", "link_expired"],
    LinkStatus.PROCESSING: ["voucher_paid", "voucher_expired"],
}


@router.get("/checkout/{session_id}", response_class=HTMLResponse)
def checkout_page(session_id: str, session: DbSession) -> HTMLResponse:
    link = link_by_session(session, session_id)
    if link is None:
        return notice_page("sandbox_payment_unknown", 404)
    account = link.account
    status = app_message(f"sandbox_status_{link.status.value.lower()}")
    return render_page(
        "sandbox_checkout.html", title=app_message("sandbox_page_title"), banner=app_message("sandbox_banner"),
        creditor=account.creditor.name, product=account.product,
        amount=format_money(link.amount, link.currency, locale_for_country(account.debtor.country)),
        status=app_message("sandbox_status", status=status), action=f"/sandbox/checkout/{session_id}",
        buttons=[{"outcome": outcome, "label": app_message(f"sandbox_button_{outcome}")}
                 for outcome in OUTCOMES.get(link.status, [])])


def _signed_event(session: Session, session_id: str, outcome: SandboxOutcome) -> tuple[bytes, str] | None:
    """The event this button stands for, signed as Stripe signs; None if the link is past that step."""
    link = link_by_session(session, session_id)
    if link is None or outcome not in OUTCOMES.get(link.status, []):
        return None
    signed = sandbox_event(link, outcome, get_settings().stripe_webhook_secret, utcnow())
    session.rollback()  # only read: end the read before the webhook's code writes in its own transactions
    return signed


@router.post("/checkout/{session_id}", response_model=None)
async def checkout_action(session_id: str, outcome: Annotated[SandboxOutcome, Form()], background: BackgroundTasks,
                          transport: TransportDep, session: DbSession) -> Response:
    signed = await run_in_threadpool(_signed_event, session, session_id, outcome)
    if signed is None:
        return notice_page("sandbox_action_unavailable", 409)
    await accept_and_deliver(*signed, background, transport)
    return RedirectResponse(f"/sandbox/checkout/{session_id}", status_code=303)
