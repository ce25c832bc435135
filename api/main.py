"""The HTTP edge: the app, its routers (api/routes/) for the current settings, and the retry worker."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from api import auth
from api.auth import CurrentPrincipal
from api.errors import install_error_handlers
from api.intake import open_intake
from api.pages import STATIC_DIR
from api.routes import (
    admin,
    admin_models,
    admin_payments,
    admin_review,
    agent,
    console,
    dashboard,
    demo,
    health,
    kpis,
    payments,
    sandbox,
    twilio,
)
from api.timing import ServerTiming
from api.worker import RetryWorker
from bot.admin.model_jobs import ModelWorker
from bot.agents.access import require_role
from bot.common.heap import freeze_startup_objects
from bot.common.settings import check_settings, exit_if_unsafe, get_settings
from bot.ledger.changes import change_feed
from bot.ledger.models import Role


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    import os

    import anyio
    if os.environ.get("WEB_THREADS"):
        anyio.to_thread.current_default_thread_limiter().total_tokens = int(os.environ["WEB_THREADS"])
    change_feed.install(get_settings().redis_url)  # live consoles hear of every commit (all processes with Redis)
    worker = RetryWorker(get_settings().retry_interval_seconds)
    worker.start()
    app.state.intake = open_intake()  # REST mode: the webhook's store and hand-over to the reply side
    campaigns = None
    if get_settings().campaigns_in_app_minutes:  # the demo: reminders without a separate worker service
        from api.tasks import EmbeddedCampaigns

        campaigns = EmbeddedCampaigns(get_settings().campaigns_in_app_minutes * 60).start()
    models = ModelWorker() if get_settings().model_jobs_in_app else None  # else `python -m api.model_worker`
    if models is not None:
        models.start()
    yield
    if models is not None:
        models.stop()
    if campaigns is not None:
        campaigns.stop()
    await app.state.intake.close()
    worker.stop()


def create_app() -> FastAPI:
    """The app for the current settings; raises UnsafeSettings in production with demo or placeholder settings."""
    settings = check_settings("the app")
    # Production serves no interactive docs and no public schema; admins read it at /api/admin/openapi.json.
    hidden = settings.is_production
    # No OpenTelemetry here: FastAPI would otherwise look for its providers on every request (issue 23).
    app = FastAPI(title="Acuerdo", version="0.1.0", lifespan=lifespan, docs_url=None if hidden else "/docs",
                  redoc_url=None if hidden else "/redoc", openapi_url=None if hidden else "/openapi.json",
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.add_middleware(ServerTiming)
    app.include_router(twilio.router)  # first: the hot path (a burst of webhooks) matches without walking the rest
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(auth.console_router)  # /console/login and /console/logout
    app.include_router(agent.router)
    app.include_router(admin.router)
    app.include_router(admin_review.router)
    app.include_router(admin_models.router)
    app.include_router(admin_payments.router)
    app.include_router(kpis.router)
    app.include_router(console.router)
    app.include_router(dashboard.router)
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    install_error_handlers(app)

    @app.get("/api/admin/openapi.json", include_in_schema=False)
    def schema_for_admins(principal: CurrentPrincipal) -> dict[str, Any]:
        """The API's schema, in every environment, for admins only (production publishes none)."""
        require_role(principal, Role.ADMIN)
        return app.openapi()
    app.include_router(payments.router)
    if settings.payment_provider == "sandbox" and not settings.is_production:
        app.include_router(sandbox.router)
    if settings.demo_enabled and not settings.is_production:
        app.include_router(demo.router)

    if settings.demo_enabled and not settings.is_production:
        @app.get("/", include_in_schema=False)
        def home() -> RedirectResponse:
            return RedirectResponse("/demo")

    return app


exit_if_unsafe("the app")  # under uvicorn: one line per problem and exit code 2, not a traceback
app = create_app()
freeze_startup_objects()  # once a process (uvicorn, a test run) has imported the app: bot/common/heap.py
