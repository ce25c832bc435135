"""The sandbox checkout page (PAYMENT_PROVIDER=sandbox): pay or fail a link, as Stripe's page would.

Its buttons build the signed event Stripe would POST and hand it to the Stripe webhook's own code.
"""
from __future__ import annotations

from html import escape

from fastapi import APIRouter, BackgroundTasks, Depends, Form
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from api.deps import get_transport
from api.payments import accept_and_deliver, html_page, notice_page
from bot.common.locale import format_money, locale_for_country
from bot.common.settings import get_settings
from bot.ledger.db import session_scope
from bot.ledger.models import LinkStatus, utcnow
from bot.messaging.outbox import Transport
from bot.payments.links import link_by_session
from payments.sandbox import SandboxOutcome, sandbox_event

router = APIRouter(prefix="/sandbox", tags=["sandbox"])
_BUTTONS: dict[LinkStatus, list[tuple[SandboxOutcome, str]]] = {
    LinkStatus.OPEN: [("card_paid", "Pagar con tarjeta"), ("voucher_issued", "Generar ficha para pagar en efectivo"),
                      ("link_expired", "Dejar vencer el enlace")],
    LinkStatus.PROCESSING: [("voucher_paid", "Simular pago de la ficha en tienda"),
                            ("voucher_expired", "Simular ficha vencida sin pagar")],
}


@router.get("/checkout/{session_id}", response_class=HTMLResponse)
def checkout_page(session_id: str) -> HTMLResponse:
    with session_scope() as session:
        link = link_by_session(session, session_id)
        if link is None:
            return notice_page("sandbox_payment_unknown", 404)
        account = link.account
        amount = format_money(link.amount, link.currency, locale_for_country(account.debtor.country))
        buttons = "".join(
            f"<form method='post' action='/sandbox/checkout/{escape(session_id)}'>"
            f"<input type='hidden' name='outcome' value='{outcome}'>"
            f"<button type='submit' style='margin: .3rem 0; padding: .6rem 1rem; width: 100%'>{escape(label)}"
            "</button></form>" for outcome, label in _BUTTONS.get(link.status, []))
        status = {LinkStatus.PAID: "Pagado", LinkStatus.EXPIRED: "Vencido", LinkStatus.FAILED: "No pagado",
                  LinkStatus.PROCESSING: "Ficha emitida, pendiente de pago", LinkStatus.OPEN: "Pendiente"}[link.status]
        return html_page(
            "Pago de prueba",
            "<p style='background:#fff3cd; padding:.5rem'>Entorno de prueba: no se cobra dinero real.</p>"
            f"<h1>{escape(account.creditor.name)}</h1><p>{escape(account.product)}</p>"
            f"<p id='amount' style='font-size: 2rem; margin: .5rem 0'>{escape(amount)}</p>"
            f"<p id='status'>Estado: {escape(status)}</p>{buttons}")


def _signed_event(session_id: str, outcome: str) -> tuple[bytes, str] | None:
    """The event this button stands for, signed as Stripe signs; None if the link is past that step."""
    with session_scope() as session:
        link = link_by_session(session, session_id)
        allowed = [name for name, _ in _BUTTONS.get(link.status, [])] if link else []
        if link is None or outcome not in allowed:
            return None
        return sandbox_event(link, outcome, get_settings().stripe_webhook_secret, utcnow())


@router.post("/checkout/{session_id}", response_class=HTMLResponse)
async def checkout_action(session_id: str, background: BackgroundTasks, outcome: str = Form(...),
                          transport: Transport = Depends(get_transport)) -> HTMLResponse:
    signed = await run_in_threadpool(_signed_event, session_id, outcome)
    if signed is None:
        return notice_page("sandbox_action_unavailable", 409)
    await accept_and_deliver(*signed, background, transport)
    return await run_in_threadpool(checkout_page, session_id)
