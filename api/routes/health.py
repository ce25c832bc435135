"""Liveness for load balancers and compose health checks."""
from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from api.deps import DbSession

router = APIRouter(tags=["health"])


@router.get("/healthz")
def health(session: DbSession) -> dict[str, str]:
    """Liveness plus a database round trip."""
    session.execute(text("SELECT 1"))
    return {"status": "ok"}
