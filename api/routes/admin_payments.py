"""Payments received outside Acuerdo, imported by an admin (bot.payments.external): the report says what was
applied, what was already there, and every rejected row with its line and reason."""
from __future__ import annotations

import io
from typing import Any

from fastapi import APIRouter, HTTPException, UploadFile
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError

from api.auth import CurrentPrincipal
from api.deps import DbSession
from bot.agents.access import require_admin_writer
from bot.ledger.models import utcnow
from bot.ledger.portfolio import PortfolioFormatError
from bot.payments.external import import_payments
from payments import provider_from_settings

router = APIRouter(prefix="/api/admin/payments", tags=["admin"])
MAX_BYTES = 20 * 1024 * 1024


@router.post("/import")
async def import_external_payments(file: UploadFile, principal: CurrentPrincipal, session: DbSession) -> dict[str, Any]:
    """A CSV with creditor, account_id, amount, currency, paid_at, method, reference (README, "Payments")."""
    require_admin_writer(principal)
    content = await file.read(MAX_BYTES + 1)
    if len(content) > MAX_BYTES:
        raise HTTPException(413, "El archivo pasa de 20 MB: divídelo.")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HTTPException(422, "El archivo no está en UTF-8.") from None
    try:  # minutes of database work for a large file: off the event loop
        report = await run_in_threadpool(import_payments, session, io.StringIO(text), utcnow(), principal.actor,
                                         provider_from_settings())
        session.flush()
    except PortfolioFormatError as exc:
        raise HTTPException(422, str(exc)) from None
    except IntegrityError:  # the same payment applied by an import running at the same moment
        raise HTTPException(409, "Otra importación con los mismos pagos está en curso; vuelve a intentarlo.") from None
    return {"rows_read": report.rows_read, "applied": report.applied, "already_imported": report.already_imported,
            "accounts_settled": report.accounts_settled,
            "totals": {currency: str(total) for currency, total in sorted(report.totals.items())},
            "errors": [{"line": error.line, "reason": error.reason} for error in report.errors],
            "summary": report.summary()}
