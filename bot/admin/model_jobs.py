"""The model lifecycle: train, evaluate, activate and roll back, as jobs a worker runs one at a time.

Activation is blue/green. Two Rasa servers share the tracker and lock stores (RASA_URL and RASA_STANDBY_URL);
debtors talk to the live one, named by the dialogue route row (bot.messaging.dialogue_route). A new model is
loaded on the standby (Rasa's PUT /model blocks that server for the whole load, which no debtor notices),
checked with a parse, and then the row is switched: every app process follows within a second, conversations
continue from the shared tracker. The old server keeps its model, so a rollback is one more switch.

A model may go live only if its evaluation against the live model passes (bot.admin.model_evaluation), or an
admin overrides it with a reason, recorded in the audit log. Rollbacks are not gated: they are the way back.
"""
from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.admin import model_evaluation, model_training
from bot.admin.rasa_model import active_model, list_models, record_active
from bot.admin.training_data import TrainingData
from bot.common.settings import Settings, get_settings
from bot.ledger.db import session_scope
from bot.ledger.models import AuditLog, DialogueRoute, ModelJob, utcnow
from bot.messaging.dialogue import normalized, replicas, role_of
from bot.messaging.dialogue_route import ROUTE_ID, ROUTE_TTL_SECONDS, current_route, rasa_roles

log = logging.getLogger(__name__)
TRAIN, EVALUATE, ACTIVATE, ROLLBACK = "train", "evaluate", "activate", "rollback"
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
# Jobs run one at a time per lane (the database refuses a second running one): training only needs the CPU, so a
# rollback never waits for one; the jobs that load or switch Rasa servers take turns, rollbacks first.
TRAINING, SERVERS = "training", "servers"
LANES = (SERVERS, TRAINING)
MODEL_NAME = re.compile(r"acuerdo-[0-9a-f]{4,64}")
WORKER = f"{socket.gethostname()}:{os.getpid()}"


class ModelRefused(RuntimeError):
    """An activation the gate does not allow (or cannot judge yet); `evaluation` says why when there is one."""

    def __init__(self, code: str, message: str, evaluation: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.evaluation = evaluation


class RasaServer:
    """One Rasa role's HTTP API (--enable-api): which model it runs, load another, read a text. A role may be
    several replicas (`url` "http://a1:5005,http://a2:5005", bot.messaging.dialogue.replicas): each loads the
    model, and the role runs a model only when every replica runs it."""

    def __init__(self, url: str, token: str, timeout_seconds: float = 30) -> None:
        self.url = normalized(url)
        self.replicas = replicas(url)
        self._token = token
        self._timeout = timeout_seconds

    def loaded_model(self) -> str | None:
        """acuerdo-<hash> of the model file it runs; None when it runs none, cannot be reached, or its replicas
        run different models (a load that stopped half way)."""
        models = set(self.replica_models())
        return models.pop() if len(models) == 1 else None

    def replica_models(self) -> list[str | None]:
        """What each replica runs (None: it runs none or cannot be reached)."""
        return [self._model_of(replica) for replica in self.replicas]

    def _model_of(self, replica: str) -> str | None:
        try:
            response = httpx.get(f"{replica}/status", params={"token": self._token}, timeout=self._timeout)
            response.raise_for_status()
            model_file = str(response.json().get("model_file") or "")
        except (httpx.HTTPError, ValueError):
            return None
        return Path(model_file).name.removesuffix(".tar.gz") or None

    def load(self, model_file: str, timeout_seconds: float = 900) -> None:
        """Every replica that runs another model loads `model_file`, one after the other."""
        name = Path(model_file).name.removesuffix(".tar.gz")
        for replica in self.replicas:
            if self._model_of(replica) != name:
                response = httpx.put(f"{replica}/model", params={"token": self._token},
                                     json={"model_file": model_file}, timeout=timeout_seconds)
                response.raise_for_status()

    def append_event(self, sender_id: str, event: dict[str, Any]) -> None:
        """Through the first replica: they share the tracker store."""
        response = httpx.post(f"{self.replicas[0]}/conversations/{sender_id}/tracker/events",
                              params={"token": self._token}, json=event, timeout=self._timeout)
        response.raise_for_status()

    def events(self, sender_id: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.replicas[0]}/conversations/{sender_id}/tracker", params={"token": self._token},
                             timeout=self._timeout)
        response.raise_for_status()
        return [event for event in response.json().get("events") or [] if isinstance(event, dict)]

    def parse(self, text: str) -> str:
        """The intent of `text`, asked of every replica (each one warmed up); the first one's answer."""
        intents = []
        for replica in self.replicas:
            response = httpx.post(f"{replica}/model/parse", params={"token": self._token}, json={"text": text},
                                  timeout=self._timeout)
            response.raise_for_status()
            intents.append(str((response.json().get("intent") or {}).get("name") or "nlu_fallback"))
        return intents[0]


@dataclass(frozen=True)
class Live:
    url: str
    model: str | None
    previous_model: str | None


def live(session: Session, settings: Settings) -> Live:
    """The live server and its model: the route row, or before any switch RASA_URL with the recorded model."""
    route = current_route(session)
    if route is not None:
        return Live(role_of(route.live_url, rasa_roles(settings)), route.live_model, route.previous_model)
    recorded = active_model(settings.models_dir)
    return Live(normalized(settings.rasa_url), recorded.name.removesuffix(".tar.gz") if recorded else None, None)


def restarted(session: Session, settings: Settings, url: str, model: str) -> None:
    """After a restart of the servers (all on the recorded model): the route says so, the way back is kept."""
    route = current_route(session)
    if route is None:
        return
    if route.live_model != model:
        route.previous_model = route.live_model
    route.live_url, route.live_model, route.changed_at = normalized(url), model, utcnow()


def standby_url(settings: Settings, live_url: str) -> str:
    """The role that shares no server with the live one: never a load on a server debtors talk to."""
    live_replicas = set(replicas(live_url))
    others = [role for role in rasa_roles(settings) if not live_replicas & set(replicas(role))]
    if not others:
        raise ModelRefused("no_standby", "No hay un segundo servidor Rasa (RASA_STANDBY_URL) donde cargar el modelo "
                           "sin cortar las conversaciones.")
    return others[0]


def model_file(settings: Settings, name: str) -> Path:
    path = settings.models_dir / f"{name}.tar.gz"
    if not MODEL_NAME.fullmatch(name) or not path.exists():
        raise ModelRefused("unknown_model", f"No existe el modelo {name}.")
    return path


# --- the queue ----------------------------------------------------------------------------------------------

def enqueue(session: Session, kind: str, user_id: int | None, reason: str, model: str | None = None,
            override_reason: str | None = None) -> ModelJob:
    job = ModelJob(kind=kind, lane=TRAINING if kind == TRAIN else SERVERS, model=model, requested_by=user_id,
                   reason=reason.strip(), override_reason=(override_reason or "").strip() or None, progress={},
                   created_at=utcnow())
    session.add(job)
    session.flush()
    return job


def request_activation(session: Session, settings: Settings, user_id: int | None, name: str, reason: str,
                       override_reason: str | None = None) -> ModelJob:
    """Queue an activation the gate allows now; ModelRefused (with the evaluation) otherwise."""
    model_file(settings, name)
    current = live(session, settings)
    if name == current.model:
        raise ModelRefused("already_live", f"{name} ya es el modelo activo.")
    standby_url(settings, current.url)
    evaluation = latest_evaluation(session, name, current.model)
    if evaluation is None:
        raise ModelRefused("not_evaluated", "Primero hay que evaluar este modelo frente al activo.")
    if not evaluation["passes"] and not (override_reason or "").strip():
        raise ModelRefused("worse", "El modelo nuevo es peor que el activo; para activarlo igual, escribe el motivo.",
                           evaluation)
    return enqueue(session, ACTIVATE, user_id, reason, name, override_reason if not evaluation["passes"] else None)


def request_evaluation(session: Session, settings: Settings, user_id: int | None, name: str,
                       reason: str) -> ModelJob:
    """Queue an evaluation of `name` against the live model (loaded on the standby, so one must exist)."""
    model_file(settings, name)
    current = live(session, settings)
    if name == current.model:
        raise ModelRefused("already_live", f"{name} ya es el modelo activo: no hay con qué compararlo.")
    standby_url(settings, current.url)
    return enqueue(session, EVALUATE, user_id, reason, name)


def request_rollback(session: Session, settings: Settings, user_id: int | None, reason: str) -> ModelJob:
    current = live(session, settings)
    if not current.previous_model:
        raise ModelRefused("nothing_to_roll_back", "No hay un modelo anterior al que volver.")
    model_file(settings, current.previous_model)
    return enqueue(session, ROLLBACK, user_id, reason, current.previous_model)


def latest_evaluation(session: Session, candidate: str, live_model: str | None) -> dict[str, Any] | None:
    """The newest finished evaluation of `candidate` against `live_model` (without its raw predictions)."""
    jobs = session.scalars(select(ModelJob).where(ModelJob.kind == EVALUATE, ModelJob.model == candidate,
                                                  ModelJob.status == DONE).order_by(ModelJob.id.desc()))
    for job in jobs:
        if job.result and job.result.get("evaluation", {}).get("live") == live_model:
            return dict(job.result["evaluation"])
    return None


def _evaluation_on_its_way(session: Session, candidate: str, live_model: str | None) -> bool:
    waiting = session.scalars(select(ModelJob.id).where(ModelJob.kind == EVALUATE, ModelJob.model == candidate,
                                                        ModelJob.status.in_((QUEUED, RUNNING))).limit(1)).first()
    return waiting is not None or latest_evaluation(session, candidate, live_model) is not None


def trained_by(session: Session) -> dict[str, ModelJob]:
    """Each model's train job (who trained it and why), the first one that produced it."""
    found: dict[str, ModelJob] = {}
    for job in session.scalars(select(ModelJob).where(ModelJob.kind == TRAIN, ModelJob.status == DONE,
                                                      ModelJob.model.is_not(None)).order_by(ModelJob.id)):
        found.setdefault(str(job.model), job)
    return found


def _claim(session: Session, lane: str, only: int | None = None) -> ModelJob | None:
    """The lane's next queued job (rollbacks first, then the oldest), or None when it has none or one is running."""
    query = select(ModelJob).where(ModelJob.status == QUEUED, ModelJob.lane == lane)
    if only is not None:
        query = query.where(ModelJob.id == only)
    job = session.scalars(query.order_by(case((ModelJob.kind == ROLLBACK, 0), else_=1), ModelJob.id).limit(1)).first()
    if job is None:
        return None
    try:
        with session.begin_nested():
            claimed = session.execute(update(ModelJob).where(ModelJob.id == job.id, ModelJob.status == QUEUED)
                                      .values(status=RUNNING, started_at=utcnow(), worker=WORKER))
    except IntegrityError:  # another job of the lane is running (uq_model_jobs_running_lane)
        return None
    return job if claimed.rowcount == 1 else None  # type: ignore[attr-defined]


def run_next(settings: Settings | None = None, lane: str | None = None, only: int | None = None) -> int | None:
    """Run the next queued job of `lane` (or of any lane; `only`: that job and no other) to its end; its id, or None
    when nothing could be claimed."""
    settings = settings or get_settings()
    with session_scope() as session:
        job = None
        for candidate in (lane,) if lane else LANES:
            job = _claim(session, candidate, only)
            if job is not None:
                break
        job_id, kind = (job.id, job.kind) if job else (None, None)
    if job_id is None:
        return None
    runner = {TRAIN: _train, EVALUATE: _evaluate, ACTIVATE: _switch, ROLLBACK: _switch}[str(kind)]
    try:
        result = runner(settings, job_id)
    except Exception as exc:  # noqa: BLE001 - the job records what went wrong; the worker goes on
        log.exception("model job %s failed", job_id)
        _finish(job_id, FAILED, error=str(exc)[-4000:] or type(exc).__name__,
                result=exc.evaluation if isinstance(exc, ModelRefused) and exc.evaluation else None)
    else:
        _finish(job_id, DONE, result=result)
    return job_id


def _finish(job_id: int, status: str, result: dict[str, Any] | None = None, error: str | None = None) -> None:
    with session_scope() as session:
        job = session.get(ModelJob, job_id)
        assert job is not None
        job.status, job.finished_at, job.error = status, utcnow(), error
        if result is not None:
            job.result = result


def _job(session: Session, job_id: int) -> ModelJob:
    job = session.get(ModelJob, job_id)
    assert job is not None
    return job


def _progress(job_id: int, every_seconds: float = 1.0) -> Callable[[dict[str, object]], None]:
    last = [0.0]

    def report(update_: dict[str, object]) -> None:
        if time.monotonic() - last[0] < every_seconds and "epoch" in update_ and update_["epoch"] != update_["epochs"]:
            return
        last[0] = time.monotonic()
        with session_scope() as session:
            _job(session, job_id).progress = dict(update_)
    return report


def recover_interrupted() -> int:
    """Jobs a process of this machine was running when it stopped (its pid is gone): failed, so an admin can ask
    again. Jobs of live processes, and of other machines, are left alone."""
    host = socket.gethostname()
    with session_scope() as session:
        stale = [job for job in session.scalars(select(ModelJob).where(ModelJob.status == RUNNING))
                 if job.worker is None or (job.worker.rsplit(":", 1)[0] == host and not _alive(job.worker))]
        for job in stale:
            job.status, job.finished_at, job.error = FAILED, utcnow(), "interrumpido: el trabajador se detuvo"
        return len(stale)


def _alive(worker: str) -> bool:
    try:
        os.kill(int(worker.rsplit(":", 1)[1]), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


# --- the runners ----------------------------------------------------------------------------------------------

def _train(settings: Settings, job_id: int) -> dict[str, Any]:
    trained = model_training.train(settings, _progress(job_id))
    with session_scope() as session:
        job = _job(session, job_id)
        job.model = trained.name
        job.progress = {"stage": "done"}
        current = live(session, settings).model
        if settings.rasa_standby_url and trained.name != current and not _evaluation_on_its_way(
                session, trained.name, current):
            enqueue(session, EVALUATE, job.requested_by, f"evaluación del entrenamiento #{job_id}", trained.name)
    return {"seconds": trained.seconds, "reused": trained.reused}


def _evaluate(settings: Settings, job_id: int) -> dict[str, Any]:
    report = _progress(job_id, every_seconds=0)
    with session_scope() as session:
        name = str(_job(session, job_id).model)
        current = live(session, settings)
        cached = _earlier_results(session)
    if current.model is None or name == current.model:
        raise ModelRefused("nothing_to_compare", "No hay otro modelo activo con el que comparar.")
    path = model_file(settings, name)
    _check_live(settings, current)  # its answers are filed under its name and kept: they must really be its own
    standby = RasaServer(standby_url(settings, current.url), settings.rasa_token)
    report({"stage": "loading"})
    _ensure_loaded(settings, standby, name)
    trained_at = {info.name: info.trained_at for info in list_models(settings.models_dir)}
    since = min(trained_at.get(name, datetime.now(UTC)), trained_at.get(current.model, datetime.now(UTC)))
    heldout = model_evaluation.heldout_examples()
    with session_scope() as session:
        labelled = model_evaluation.labelled_since(session, _training_data(settings), since)
    texts = [example.text for example in heldout + labelled]
    report({"stage": "parsing"})
    servers = {name: standby, current.model: RasaServer(current.url, settings.rasa_token)}
    stories_key = model_evaluation.stories_hash()
    # Both servers answer at once, and `rasa test core` runs beside them: an evaluation takes minutes, not more.
    with ThreadPoolExecutor(max_workers=4) as pool:
        asked = {model: pool.submit(model_evaluation.predict_all, texts, cached["predictions"].get(model, {}),
                                    server.parse) for model, server in servers.items()}
        played: dict[str, Future[model_evaluation.Stories]] = {}
        for model in (name, current.model):
            known = cached["stories"].get(model, {})
            if known.get("hash") != stories_key:
                played[model] = pool.submit(model_evaluation.run_test_stories, settings.rasa_command,
                                            path if model == name else model_file(settings, model))
        predictions = {model: future.result() for model, future in asked.items()}
        stories = {model: played[model].result() if model in played else model_evaluation.Stories(
            int(cached["stories"][model]["passed"]), int(cached["stories"][model]["total"]))
            for model in (name, current.model)}
    margins = model_evaluation.Margins(settings.model_gate_margin, settings.model_gate_intent_margin)
    evaluation = model_evaluation.compare(name, current.model, heldout, labelled, predictions, stories, margins)
    return {"evaluation": evaluation.to_dict(), "predictions": predictions,
            "stories": {model: {"hash": stories_key, "passed": s.passed, "total": s.total}
                        for model, s in stories.items()}}


def _earlier_results(session: Session) -> dict[str, dict[str, Any]]:
    """Predictions and story results of earlier evaluations, per model: a model's answers never change."""
    cached: dict[str, dict[str, Any]] = {"predictions": {}, "stories": {}}
    for job in session.scalars(select(ModelJob).where(ModelJob.kind == EVALUATE, ModelJob.status == DONE)
                               .order_by(ModelJob.id)):
        for model, predicted in ((job.result or {}).get("predictions") or {}).items():
            cached["predictions"].setdefault(model, {}).update(predicted)
        cached["stories"].update((job.result or {}).get("stories") or {})
    return cached


def _training_data(settings: Settings) -> TrainingData:
    return TrainingData(settings.training_data_dir, settings.domain_file)


def _ensure_loaded(settings: Settings, server: RasaServer, name: str) -> None:
    """`name` on `server`, loaded through Rasa's PUT /model if it runs another, then checked with a parse.

    A server live until a moment ago may still be answering: app processes follow the route up to a second late
    and a request already sent runs until it ends. PUT /model would block those for the whole load, so a load
    waits until every one of them has answered (or timed out) first."""
    if server.loaded_model() != name:
        model_file(settings, name)
        with session_scope() as session:
            route = current_route(session)
            changed_at = route.changed_at if route else None
        time.sleep(seconds_until_drained(changed_at, settings.rasa_timeout_seconds, utcnow()))
        server.load(_seen_by_rasa(settings, name))
        if server.loaded_model() != name:
            raise RuntimeError(f"{server.url} did not load {name} (it runs {server.loaded_model()})")
    server.parse("hola")  # warmed up: the first debtor after the switch does not pay for it


def _seen_by_rasa(settings: Settings, name: str) -> str:
    """A model's file as the Rasa servers see it (compose: /app/models), for PUT /model."""
    return f"{(settings.rasa_models_dir or str(settings.models_dir)).rstrip('/')}/{name}.tar.gz"


def seconds_until_drained(switched_at: datetime | None, rasa_timeout_seconds: float, now: datetime) -> float:
    """How long until no app process sends to the server that was live before `switched_at`, and the last request
    it got has answered or timed out."""
    if switched_at is None:
        return 0.0
    drained = switched_at + timedelta(seconds=ROUTE_TTL_SECONDS + rasa_timeout_seconds + 1)
    return max(0.0, (drained - now).total_seconds())


def _check_live(settings: Settings, current: Live) -> None:
    """The live server runs the model the route names (a restart, `make model` or a crash may have changed it). A
    live role whose replicas disagree (one restarted on an older models/ACTIVE) has the strays load the route's
    model: until then the debtors on them talk to another model."""
    server = RasaServer(current.url, settings.rasa_token)
    models = server.replica_models()
    if len({model for model in models if model is not None}) > 1:
        if current.model is None or current.model not in models:
            raise ModelRefused("replicas_differ", f"Las réplicas del servidor activo ({current.url}) corren modelos "
                               f"distintos ({', '.join(str(model) for model in models)}): reinícialas.")
        server.load(_seen_by_rasa(settings, current.model))
        with session_scope() as session:
            session.add(AuditLog(actor="system", action="model_replicas_aligned", entity_type="model",
                                 entity_id=current.model, details={"server": current.url, "were": models}))
        return
    running = server.loaded_model()
    if running is not None and running != current.model:
        reconcile(settings)
        raise ModelRefused("route_mismatch", f"El servidor activo ({current.url}) corre {running}, no "
                           f"{current.model}; el registro ya se corrigió: vuelve a intentarlo.")


def reconcile(settings: Settings) -> str | None:
    """Make the route and models/ACTIVE say what the live server really runs: after a restart on another model
    or a crash between switching and recording. The model it runs, or None if it cannot be reached."""
    with session_scope() as session:
        route = current_route(session)
        if route is None:
            return None
        server = RasaServer(role_of(route.live_url, rasa_roles(settings)), settings.rasa_token)
        running = server.loaded_model()
        if running is None:
            return None
        route.live_url = server.url  # the whole role, if the row was written before it had replicas
        if running != route.live_model:
            session.add(AuditLog(actor="system", action="model_reconciled", entity_type="model", entity_id=running,
                                 details={"route_said": route.live_model, "server": route.live_url}))
            route.previous_model, route.live_model, route.changed_at = route.live_model, running, utcnow()
    recorded = active_model(settings.models_dir)
    runs_file = f"{running}.tar.gz"
    if (settings.models_dir / runs_file).exists() and (recorded is None or recorded.name != runs_file):
        record_active(settings.models_dir, running)
    return running


def _shares_trackers(live_server: RasaServer, target: RasaServer, job_id: int) -> bool | None:
    """Does the target read what the live server writes? Both must use one tracker store, or every conversation
    would start over at the switch. None when the live server cannot be asked (down: switching is the remedy)."""
    sender = f"acuerdo-switch-probe-{job_id}"
    try:
        live_server.append_event(sender, {"event": "action", "name": "action_listen"})
    except httpx.HTTPError:
        return None
    return any(event.get("event") == "action" for event in target.events(sender))


def _switch(settings: Settings, job_id: int) -> dict[str, Any]:
    """Make the job's model live on the standby server and point every app process at it."""
    with session_scope() as session:
        job = _job(session, job_id)
        name, kind, user_id = str(job.model), job.kind, job.requested_by
        reason, override = job.reason, job.override_reason
        current = live(session, settings)
        if kind == ACTIVATE:
            evaluation = latest_evaluation(session, name, current.model)
            if evaluation is None or (not evaluation["passes"] and not override):
                raise ModelRefused("worse", "El modelo ya no pasa la evaluación frente al activo.", evaluation)
        elif name != current.previous_model:  # another switch ran since this rollback was asked for
            raise ModelRefused("stale_rollback", f"El modelo anterior ya no es {name}; vuelve a pedirlo.")
    if name == current.model:
        raise ModelRefused("already_live", f"{name} ya es el modelo activo.")
    _check_live(settings, current)
    target = RasaServer(standby_url(settings, current.url), settings.rasa_token)
    _progress(job_id, every_seconds=0)({"stage": "loading"})
    started = time.monotonic()
    _ensure_loaded(settings, target, name)
    shared = _shares_trackers(RasaServer(current.url, settings.rasa_token), target, job_id)
    if shared is False:
        raise RuntimeError(f"{target.url} does not read the trackers {current.url} writes: give both servers the "
                           "same tracker store (Redis, or the SQL store) before switching")
    with session_scope() as session:
        route = current_route(session)
        if role_of(route.live_url if route else settings.rasa_url, rasa_roles(settings)) != current.url:
            raise RuntimeError("the route changed while this job ran; nothing switched")
        route = route or DialogueRoute(id=ROUTE_ID)
        route.live_url, route.live_model, route.previous_model = target.url, name, current.model
        route.changed_at, route.changed_by_job = utcnow(), job_id
        session.add(route)
        session.add(AuditLog(actor=f"user:{user_id}" if user_id else "cli", action=f"model_{kind}",
                             entity_type="model", entity_id=name,
                             details={"from": current.model, "to": name, "server": target.url, "reason": reason,
                                      "override_reason": override}))
    result: dict[str, Any] = {"from": current.model, "to": name, "server": target.url,
                              "load_seconds": round(time.monotonic() - started, 1)}
    try:
        record_active(settings.models_dir, name)  # a restart runs it too
    except OSError as exc:  # switched all the same; the next worker start writes it (reconcile)
        result["warning"] = f"models/ACTIVE not written: {exc}"
    if shared is None:
        result["warning"] = f"{current.url} did not answer: the shared tracker store could not be checked"
    return result


class ModelWorker:
    """Runs model jobs, one thread per lane, in the app (the embedded default) or in `python -m api.model_worker`."""

    def __init__(self, poll_seconds: float = 1.0) -> None:
        self._poll = poll_seconds
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(lane,), name=f"acuerdo-models-{lane}", daemon=True)
                         for lane in LANES]

    def start(self) -> None:
        try:
            recover_interrupted()
            reconcile(get_settings())
        except Exception:  # noqa: BLE001 - a database not migrated yet, a server still starting: the jobs check
            log.exception("model worker: could not recover jobs or reconcile the route")  # again before they act
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        model_training.stop_running()
        for thread in self._threads:
            thread.join(timeout=5)

    def _loop(self, lane: str) -> None:
        while not self._stop.is_set():
            try:
                ran, pause = run_next(lane=lane), self._poll
            except Exception:  # noqa: BLE001 - a database hiccup: try again, less often while it lasts
                log.exception("model worker pass failed")
                ran, pause = None, self._poll * 10
            if ran is None:
                self._stop.wait(pause)
