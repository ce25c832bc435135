"""The HTTP edge. Routes stay thin: they call bot/ (and payments/)."""
from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import text

from bot.storage.db import get_engine

app = FastAPI(title="Acuerdo", version="0.1.0")


@app.get("/healthz")
def health() -> dict[str, str]:
    """Liveness plus a database round trip, for load balancers and compose health checks."""
    with get_engine().connect() as connection:
        connection.execute(text("SELECT 1"))
    return {"status": "ok"}
