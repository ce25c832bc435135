"""Models from the admin area: train (a background job with live epochs), see each model's evaluation against
the live one, activate it without dropping a conversation, roll back in one click (bot.admin.model_jobs).

Supervisors read; admins (who oversee every creditor, whose debtors all share the model) train and switch.
A refused activation answers 409 with the evaluation that refused it.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select

from api.auth import CurrentPrincipal
from api.deps import DbSession
from bot.admin import model_jobs
from bot.admin.rasa_model import list_models
from bot.agents.access import require_admin_reader, require_admin_writer
from bot.common.settings import get_settings
from bot.ledger.models import ModelJob

router = APIRouter(prefix="/api/admin/models", tags=["admin"])


class Reason(BaseModel):
    reason: str = Field(min_length=3, max_length=500)

    @field_validator("reason")
    @classmethod
    def _written(cls, value: str) -> str:
        if len(value.strip()) < 3:
            raise ValueError("Escribe el motivo (al menos 3 letras).")
        return value.strip()


class Activation(Reason):
    override_reason: str | None = Field(default=None, max_length=500)  # needed when the evaluation fails


def job_out(job: ModelJob) -> dict[str, Any]:
    result = dict(job.result or {})
    result.pop("predictions", None)  # every held-out answer: too much for a page, kept for the next evaluation
    return {"id": job.id, "kind": job.kind, "model": job.model, "status": job.status, "reason": job.reason,
            "override_reason": job.override_reason, "requested_by": job.requested_by, "progress": job.progress,
            "result": result or None, "error": job.error, "created_at": job.created_at.isoformat(),
            "started_at": job.started_at.isoformat() if job.started_at else None,
            "finished_at": job.finished_at.isoformat() if job.finished_at else None}


def _refused(error: model_jobs.ModelRefused) -> JSONResponse:
    return JSONResponse(status_code=409, content={"detail": str(error), "code": error.code,
                                                  "evaluation": error.evaluation})


@router.get("")
def models(principal: CurrentPrincipal, session: DbSession) -> dict[str, Any]:
    """The live model, every kept model (who trained it and why, its evaluation against the live one), recent jobs."""
    require_admin_reader(principal)
    settings = get_settings()
    current = model_jobs.live(session, settings)
    trained = model_jobs.trained_by(session)
    kept = []
    for info in list_models(settings.models_dir):
        job = trained.get(info.name)
        evaluation = model_jobs.latest_evaluation(session, info.name, current.model)
        kept.append({"name": info.name, "trained_at": info.trained_at.isoformat(), "size_bytes": info.size_bytes,
                     "training_seconds": info.training_seconds, "live": info.name == current.model,
                     "previous": info.name == current.previous_model,
                     "trained_by": job.requested_by if job else None, "reason": job.reason if job else None,
                     "evaluation": evaluation})
    jobs = session.scalars(select(ModelJob).order_by(ModelJob.id.desc()).limit(20))
    return {"live": {"model": current.model, "url": current.url, "previous_model": current.previous_model},
            "standby_configured": bool(settings.rasa_standby_url),
            "gate_margins": {"overall": settings.model_gate_margin, "intent": settings.model_gate_intent_margin},
            "models": kept, "jobs": [job_out(job) for job in jobs]}


@router.post("/train", status_code=202)
def train(body: Reason, principal: CurrentPrincipal, session: DbSession) -> dict[str, Any]:
    require_admin_writer(principal)
    return job_out(model_jobs.enqueue(session, model_jobs.TRAIN, principal.user_id, body.reason))


@router.get("/jobs/{job_id}")
def job(job_id: int, principal: CurrentPrincipal, session: DbSession) -> dict[str, Any]:
    require_admin_reader(principal)
    found = session.get(ModelJob, job_id)
    if found is None:
        raise HTTPException(404, "No existe ese trabajo.")
    return job_out(found)


@router.post("/{name}/evaluate", status_code=202, response_model=None)
def evaluate(name: str, body: Reason, principal: CurrentPrincipal, session: DbSession) -> dict[str, Any] | JSONResponse:
    require_admin_writer(principal)
    try:
        job_ = model_jobs.request_evaluation(session, get_settings(), principal.user_id, name, body.reason)
    except model_jobs.ModelRefused as error:
        return _refused(error)
    return job_out(job_)


@router.get("/{name}/evaluation")
def evaluation(name: str, principal: CurrentPrincipal, session: DbSession) -> dict[str, Any]:
    require_admin_reader(principal)
    found = model_jobs.latest_evaluation(session, name, model_jobs.live(session, get_settings()).model)
    if found is None:
        raise HTTPException(404, "Este modelo aún no se ha evaluado frente al activo.")
    return found


@router.post("/{name}/activate", status_code=202, response_model=None)
def activate(name: str, body: Activation, principal: CurrentPrincipal,
             session: DbSession) -> dict[str, Any] | JSONResponse:
    require_admin_writer(principal)
    try:
        job_ = model_jobs.request_activation(session, get_settings(), principal.user_id, name, body.reason,
                                             body.override_reason)
    except model_jobs.ModelRefused as error:
        return _refused(error)
    return job_out(job_)


@router.post("/rollback", status_code=202, response_model=None)
def rollback(body: Reason, principal: CurrentPrincipal, session: DbSession) -> dict[str, Any] | JSONResponse:
    require_admin_writer(principal)
    try:
        job_ = model_jobs.request_rollback(session, get_settings(), principal.user_id, body.reason)
    except model_jobs.ModelRefused as error:
        return _refused(error)
    return job_out(job_)
