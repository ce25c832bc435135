"""The HTTP edge. Routes stay thin: they call bot/ (and payments/)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from sqlalchemy import text

from api import demo, payments, sandbox, twilio
from api.worker import RetryWorker
from bot.common.settings import check_settings, exit_if_unsafe, get_settings
from bot.ledger.db import get_engine


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    worker = RetryWorker(get_settings().retry_interval_seconds)
    worker.start()
    yield
    worker.stop()


def create_app() -> FastAPI:
    """The app for the current settings; raises UnsafeSettings in production with demo or placeholder settings."""
    settings = check_settings("the app")
    # No admin sign-in exists yet, so production serves no interactive docs or schema at all.
    hidden = settings.is_production
    app = FastAPI(title="Acuerdo", version="0.1.0", lifespan=lifespan, docs_url=None if hidden else "/docs",
                  redoc_url=None if hidden else "/redoc", openapi_url=None if hidden else "/openapi.json")
    app.include_router(twilio.router)
    app.include_router(payments.router)
    if settings.payment_provider == "sandbox" and not settings.is_production:
        app.include_router(sandbox.router)
    if settings.demo_enabled and not settings.is_production:
        app.include_router(demo.router)

    @app.get("/healthz")
    def health() -> dict[str, str]:
        """Liveness plus a database round trip, for load balancers and compose health checks."""
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok"}

    if settings.demo_enabled and not settings.is_production:
        @app.get("/", include_in_schema=False)
        def home() -> RedirectResponse:
            return RedirectResponse("/demo")

    return app


exit_if_unsafe("the app")  # under uvicorn: one line per problem and exit code 2, not a traceback
app = create_app()
