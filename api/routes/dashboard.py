"""The KPI dashboard page (`/console/dashboard`): a server-rendered frame whose JavaScript (api/static/dashboard.js)
reads `GET /api/kpis` with the session cookie and draws the numbers with Chart.js. Supervisors and admins; the
API scopes every number to the reader's creditors. Agents get the same 404 page as for /console/supervision."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from api.auth import ConsolePrincipal
from api.deps import DbSession
from api.pages import render_page
from api.routes.console import _frame
from bot.ledger.models import Creditor

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, principal: ConsolePrincipal, session: DbSession) -> HTMLResponse:
    if not principal.oversees_others:
        return render_page("console/not_found.html", 404, **_frame(request, principal, "missing", "No encontrada"))
    query = select(Creditor.code, Creditor.name).order_by(Creditor.name, Creditor.code)
    if principal.creditor_ids is not None:  # None: every creditor (an admin, or someone with all of them)
        query = query.where(Creditor.id.in_(principal.creditor_ids))
    creditors = [{"code": code, "name": name} for code, name in session.execute(query)]
    return render_page("console/dashboard.html", **_frame(request, principal, "dashboard", "Números",
                                                          creditors=creditors))
