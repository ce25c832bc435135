"""The core's refusals as HTTP answers, in one place: 403 not allowed, 404 not visible, 409 wrong state or a
stale edit (with what is there now), 422 an admin edit that would break what the bot reads (the field and why)."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bot.admin.config_files import StaleFile
from bot.admin.replies import StaleReply
from bot.admin.training_data import EditConflict, InvalidEdit
from bot.agents.access import AccessDenied, Conflict, NotVisible


def _denied(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=403, content={"detail": str(exc)})


def _not_visible(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=404, content={"detail": "not found"})


def _conflict(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Conflict)
    return JSONResponse(status_code=409, content={"detail": {"reason": exc.reason, **exc.details}})


def _invalid_edit(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidEdit)
    return JSONResponse(status_code=422, content={"detail": {"field": exc.field, "message": str(exc)}})


def _stale_edit(request: Request, exc: Exception) -> JSONResponse:
    """The merge view: the file's current text and version, the reply's current variations, or the examples the
    intent holds now."""
    if isinstance(exc, StaleFile):
        return JSONResponse(status_code=409, content={"detail": {"message": str(exc), "text": exc.text,
                                                                 "version": exc.version}})
    if isinstance(exc, StaleReply):
        return JSONResponse(status_code=409, content={"detail": {"message": str(exc), "reply": exc.reply.as_dict()}})
    assert isinstance(exc, EditConflict)
    current = [{"id": e.id, "intent": e.intent, "text": e.text, "file": e.file, "entities": e.entities}
               for e in exc.current]
    return JSONResponse(status_code=409, content={"detail": {"message": str(exc), "current": current}})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AccessDenied, _denied)
    app.add_exception_handler(NotVisible, _not_visible)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(InvalidEdit, _invalid_edit)
    app.add_exception_handler(EditConflict, _stale_edit)
