"""The core's refusals as HTTP answers, in one place: 403 not allowed, 404 not visible, 409 wrong state."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bot.agents.access import AccessDenied, Conflict, NotVisible


def _denied(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=403, content={"detail": str(exc)})


def _not_visible(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=404, content={"detail": "not found"})


def _conflict(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Conflict)
    return JSONResponse(status_code=409, content={"detail": {"reason": exc.reason, **exc.details}})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AccessDenied, _denied)
    app.add_exception_handler(NotVisible, _not_visible)
    app.add_exception_handler(Conflict, _conflict)
