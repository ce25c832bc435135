"""`GET /api/kpis`: the numbers that matter (bot.reporting.kpis) for a creditor's BI tools, as JSON; the dashboard
reads the same. Supervisors and admins, within their creditors (bot.agents.access.creditors_to_report)."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import select

from api.auth import CurrentPrincipal
from api.deps import DbSession
from bot.agents.access import NotVisible, creditors_to_report
from bot.ledger.db import session_scope
from bot.ledger.models import Creditor
from bot.ledger.stages import Stage
from bot.reporting.kpis import Filters, compute
from bot.reporting.results import results_csv

router = APIRouter(prefix="/api", tags=["kpis"])
MAX_DAYS = 366


class KpisOut(BaseModel):
    """Counts, rates (None when there is nothing to divide by) and money per currency (decimal strings)."""

    filters: dict[str, Any]
    accounts: dict[str, Any]  # assigned, amount_assigned {currency: amount}
    contact: dict[str, Any]  # accounts_contacted, debtors_contacted, right_party_contacts, right_party_contact_rate
    recovery: list[dict[str, Any]]  # per creditor, country, stage, currency: accounts, assigned, collected, recovery
    promises: dict[str, Any]  # made, kept, kept_rate
    plans: dict[str, Any]  # created, on_track, on_track_rate
    payments_by_method: list[dict[str, Any]]  # method, currency, payments, amount
    handoffs: dict[str, Any]  # conversations, handed_off, handoff_rate, reasons, median_agent_handling_seconds
    bot: dict[str, Any]  # contained, containment_rate, messages_classified, nlu_fallbacks, nlu_fallback_rate
    opt_outs: int
    median_days_to_first_payment: float | None
    daily: list[dict[str, Any]]  # every day of the range: day, contacts, payments, collected {currency: amount}


def _range(start: date | None, end: date | None) -> tuple[date, date]:
    end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=29)
    if start > end:
        raise HTTPException(422, "`from` va después de `to`.")
    if (end - start).days >= MAX_DAYS:
        raise HTTPException(422, f"El rango puede tener hasta {MAX_DAYS} días.")
    return start, end


def _creditor_id(session: DbSession, code: str) -> int:
    found = session.scalars(select(Creditor.id).where(Creditor.code == code)).first()
    if found is None:
        raise NotVisible("creditor")
    return int(found)


@router.get("/kpis", response_model=KpisOut)
def kpis(principal: CurrentPrincipal, session: DbSession,
         start: Annotated[date | None, Query(alias="from", description="First day (UTC), included; default: "
                                             "29 days before `to`")] = None,
         end: Annotated[date | None, Query(alias="to", description="Last day (UTC), included; default: today")] = None,
         creditor: Annotated[str | None, Query(max_length=64, description="A creditor's code")] = None,
         country: Annotated[str | None, Query(pattern="^[A-Z]{2}$")] = None,
         stage: Stage | None = None,
         channel: Annotated[str | None, Query(pattern="^(whatsapp|sms|demo)$")] = None) -> KpisOut:
    start, end = _range(start, end)
    creditors_to_report(principal, None)  # the role first: an agent learns nothing about which codes exist
    scope = creditors_to_report(principal, _creditor_id(session, creditor) if creditor is not None else None)
    found = compute(session, Filters(start, end, scope, country, stage, channel))
    return KpisOut(**found.__dict__)


@router.get("/results.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}, "description": "One row per account"}})
def results(principal: CurrentPrincipal, session: DbSession,
            creditor: Annotated[str, Query(max_length=64, description="A creditor's code")],
            start: Annotated[date | None, Query(alias="from")] = None,
            end: Annotated[date | None, Query(alias="to")] = None) -> StreamingResponse:
    """Per account of the creditor: contacts, outcome, promises, plans, payments and opt-out, as CSV."""
    start, end = _range(start, end)
    creditors_to_report(principal, None)  # the role first: an agent learns nothing about which codes exist
    creditor_id = _creditor_id(session, creditor)
    creditors_to_report(principal, creditor_id)

    def chunks() -> Iterator[bytes]:
        yield "\ufeff".encode()  # spreadsheets then read the accents right
        with session_scope() as reading:  # the request's own session is closed once streaming starts
            for text in results_csv(reading, creditor_id, start, end):
                yield text.encode()

    filename = f"resultados-{creditor}-{start}-{end}.csv"
    return StreamingResponse(chunks(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})
