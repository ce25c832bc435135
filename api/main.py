"""The HTTP edge. Routes stay thin: they call bot/ (and payments/)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from sqlalchemy import text

from api import demo, payments, sandbox, twilio
from api.worker import RetryWorker
from bot.settings import get_settings
from bot.storage.db import get_engine


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    worker = RetryWorker(get_settings().retry_interval_seconds)
    worker.start()
    yield
    worker.stop()


def create_app() -> FastAPI:
    app = FastAPI(title="Acuerdo", version="0.1.0", lifespan=lifespan)
    app.include_router(twilio.router)
    app.include_router(payments.router)
    if get_settings().payment_provider == "sandbox":
        app.include_router(sandbox.router)
    if get_settings().demo_enabled:
        app.include_router(demo.router)

    @app.get("/healthz")
    def health() -> dict[str, str]:
        """Liveness plus a database round trip, for load balancers and compose health checks."""
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok"}

    if get_settings().demo_enabled:
        @app.get("/", include_in_schema=False)
        def home() -> RedirectResponse:
            return RedirectResponse("/demo")

    return app


app = create_app()
