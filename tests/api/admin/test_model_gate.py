"""The model lifecycle's rules, without a Rasa server: who may train and switch, when an activation is refused
(unknown, already live, not evaluated, worse without a reason), what the gate counts as worse, the examples it
scores, how training progress is read, and how every app process finds the live server. The whole path with real
servers is tests/api/admin/test_model_lifecycle.py."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.main import create_app
from bot.admin import model_evaluation, model_jobs, tuning
from bot.admin.model_evaluation import Margins, Regression, Scores, Stories
from bot.admin.model_training import read_progress
from bot.admin.nlu_scores import Example
from bot.agents.users import create_user, issue_token
from bot.common.settings import get_settings
from bot.ledger.models import ModelJob, Role
from bot.messaging.dialogue_route import LiveRasaUrl
from tests.api.admin.conftest import auth

LIVE, NEW = "acuerdo-aaaa1111aaaa1111", "acuerdo-bbbb2222bbbb2222"


@pytest.fixture
def models(tmp_path: Path, stripe_env: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    for name in (LIVE, NEW):
        (folder / f"{name}.tar.gz").write_bytes(b"not really a model")
    (folder / "ACTIVE").write_text(f"{LIVE}.tar.gz\n", encoding="utf-8")
    stripe_env.setenv("MODELS_DIR", str(folder))
    stripe_env.setenv("RASA_STANDBY_URL", "http://127.0.0.1:9")  # nothing listens: jobs fail, requests are judged
    stripe_env.setenv("MODEL_JOBS_IN_APP", "false")  # these tests look at requests, not at a worker running them
    get_settings.cache_clear()
    return folder


def scores(macro_f1: float = 0.95, intents: dict[str, float] | None = None, stories: float = 1.0,
           labelled: float = 1.0) -> Scores:
    return Scores(macro_f1, macro_f1, intents or {"greet": 0.9, "promise_to_pay": 0.9},
                  {"passed": stories * 20, "total": 20, "accuracy": stories},
                  {"correct": labelled * 8, "total": 8, "accuracy": labelled}, [])


def evaluated(session: Session, candidate: str, live: str, passes: bool) -> None:
    regressions = [] if passes else [{"metric": "intent:greet", "live": 0.9, "candidate": 0.5}]
    evaluation = {"candidate": candidate, "live": live, "margins": {"overall": 0.02, "intent": 0.1},
                  "heldout_count": 100, "labelled_count": 0, "candidate_scores": scores().__dict__,
                  "live_scores": scores().__dict__, "regressions": regressions, "passes": passes}
    session.add(ModelJob(kind="evaluate", lane="servers", model=candidate, status="done", reason="", progress={},
                         result={"evaluation": evaluation, "predictions": {candidate: {}, live: {}}}))
    session.commit()


@pytest.fixture
def model_admin(session: Session) -> dict[str, str]:
    now = datetime.now(UTC)
    user = create_user(session, "models-admin@acuerdo.example", "una clave larga de prueba", Role.ADMIN, [],
                       all_creditors=True, now=now)
    token, _ = issue_token(session, user, address="127.0.0.1", now=now)
    session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(models: Path, project: Path) -> Any:
    with TestClient(create_app()) as client:
        yield client


def test_supervisors_look_and_only_admins_train_or_switch(
        api: TestClient, tokens: dict[str, str], model_admin: dict[str, str]) -> None:
    assert api.get("/api/admin/models").status_code == 401
    assert api.get("/api/admin/models", headers=auth(tokens, "agent")).status_code == 403
    listed = api.get("/api/admin/models", headers=auth(tokens, "supervisor"))
    assert listed.status_code == 200
    assert listed.json()["live"]["model"] == LIVE and [m["name"] for m in listed.json()["models"]] != []
    reason = {"reason": "nuevos ejemplos"}
    for who in ("agent", "supervisor"):
        assert api.post("/api/admin/models/train", json=reason, headers=auth(tokens, who)).status_code == 403
        assert api.post("/api/admin/models/rollback", json=reason, headers=auth(tokens, who)).status_code == 403
        assert api.post(f"/api/admin/models/{NEW}/activate", json=reason,
                        headers=auth(tokens, who)).status_code == 403
    queued = api.post("/api/admin/models/train", json=reason, headers=model_admin)
    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    assert api.get(f"/api/admin/models/jobs/{queued.json()['id']}", headers=auth(tokens, "supervisor")).json()[
        "reason"] == "nuevos ejemplos"
    assert api.post("/api/admin/models/train", json={"reason": ""}, headers=model_admin).status_code == 422


def test_an_activation_is_refused_until_an_evaluation_allows_it_or_a_reason_overrides_it(
        api: TestClient, session: Session, model_admin: dict[str, str]) -> None:
    def activate(name: str, **extra: str) -> Any:
        return api.post(f"/api/admin/models/{name}/activate", json={"reason": "probar", **extra}, headers=model_admin)

    assert activate("acuerdo-nope").json()["code"] == "unknown_model"
    assert activate(LIVE).json()["code"] == "already_live"
    assert activate(NEW).json()["code"] == "not_evaluated"
    evaluated(session, NEW, "acuerdo-someother", passes=True)  # against another live model: does not count
    assert activate(NEW).json()["code"] == "not_evaluated"
    evaluated(session, NEW, LIVE, passes=False)
    refused = activate(NEW)
    assert refused.status_code == 409 and refused.json()["code"] == "worse"
    assert refused.json()["evaluation"]["regressions"][0]["metric"] == "intent:greet"
    assert activate(NEW, override_reason="   ").status_code == 409
    forced = activate(NEW, override_reason="urgente: el activo falla con montos")
    assert forced.status_code == 202 and forced.json()["override_reason"] == "urgente: el activo falla con montos"
    evaluated(session, NEW, LIVE, passes=True)
    allowed = activate(NEW, override_reason="no hace falta")
    assert allowed.status_code == 202 and allowed.json()["override_reason"] is None  # nothing was overridden
    shown = api.get(f"/api/admin/models/{NEW}/evaluation", headers=model_admin).json()
    assert shown["passes"] and "predictions" not in str(api.get("/api/admin/models", headers=model_admin).json())
    assert api.post("/api/admin/models/rollback", json={"reason": "volver"},
                    headers=model_admin).json()["code"] == "nothing_to_roll_back"


def test_without_a_standby_server_nothing_is_switched(api: TestClient, session: Session, models: Path,
                                                       model_admin: dict[str, str],
                                                       stripe_env: pytest.MonkeyPatch) -> None:
    stripe_env.delenv("RASA_STANDBY_URL")
    get_settings.cache_clear()
    evaluated(session, NEW, LIVE, passes=True)
    refused = api.post(f"/api/admin/models/{NEW}/activate", json={"reason": "probar"}, headers=model_admin)
    assert refused.status_code == 409 and refused.json()["code"] == "no_standby"


def test_a_queued_activation_that_cannot_reach_the_standby_fails_and_changes_nothing(
        api: TestClient, session: Session, models: Path, model_admin: dict[str, str]) -> None:
    evaluated(session, NEW, LIVE, passes=True)
    job = api.post(f"/api/admin/models/{NEW}/activate", json={"reason": "probar"}, headers=model_admin).json()
    assert model_jobs.run_next() == job["id"]
    finished = api.get(f"/api/admin/models/jobs/{job['id']}", headers=model_admin).json()
    assert finished["status"] == "failed" and finished["error"]
    assert api.get("/api/admin/models", headers=model_admin).json()["live"]["model"] == LIVE
    assert (models / "ACTIVE").read_text(encoding="utf-8").strip() == f"{LIVE}.tar.gz"


def test_the_gate_counts_each_kind_of_regression_with_its_own_margin() -> None:
    margins = Margins(overall=0.02, intent=0.10)
    live = scores(0.95, {"greet": 0.90, "promise_to_pay": 0.80}, stories=1.0, labelled=0.5)
    assert model_evaluation.regressions(scores(0.94, {"greet": 0.81, "promise_to_pay": 0.80}, 1.0, 0.5),
                                        live, margins) == []  # within both margins
    worse = scores(0.92, {"greet": 0.79}, stories=0.95, labelled=0.25)
    assert model_evaluation.regressions(worse, live, margins) == [
        Regression("macro_f1", 0.95, 0.92), Regression("stories", 1.0, 0.95), Regression("labelled", 0.5, 0.25),
        Regression("intent:greet", 0.90, 0.79), Regression("intent:promise_to_pay", 0.80, 0.0)]


def test_both_models_are_scored_on_the_same_examples_and_the_admins_ones_apart() -> None:
    heldout = [Example("hola", "greet"), Example("te pago el viernes", "promise_to_pay")]
    labelled = [Example("bola de nieve la deuda", "ask_why_amount_grew")]
    predictions = {NEW: {"hola": "greet", "te pago el viernes": "promise_to_pay",
                         "bola de nieve la deuda": "ask_why_amount_grew"},
                   LIVE: {"hola": "greet", "te pago el viernes": "promise_to_pay",
                          "bola de nieve la deuda": "ask_debt_details"}}
    stories = {NEW: Stories(20, 20), LIVE: Stories(20, 20)}
    forward = model_evaluation.compare(NEW, LIVE, heldout, labelled, predictions, stories, Margins(0.02, 0.1))
    assert forward.passes and forward.candidate_scores.labelled["accuracy"] == 1.0
    backward = model_evaluation.compare(LIVE, NEW, heldout, labelled, predictions, stories, Margins(0.02, 0.1))
    assert [r.metric for r in backward.regressions] == ["labelled"]
    assert model_evaluation.Evaluation.from_dict(backward.to_dict()) == backward


def test_the_examples_admins_labelled_since_a_model_count_and_undone_ones_do_not(
        session: Session, project: Path) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    kept = tuning.add_example(session, None, "ask_why_amount_grew", "se volvio bola de nieve la deuda",
                              datetime.now(UTC))
    undone = tuning.add_example(session, None, "greet", "quiubo pues como va todo", datetime.now(UTC))
    tuning.revert(session, None, undone.id, datetime.now(UTC))
    found = model_evaluation.labelled_since(session, tuning.training_data(), before)
    assert found == [Example("se volvio bola de nieve la deuda", "ask_why_amount_grew")]
    assert kept.target and model_evaluation.labelled_since(session, tuning.training_data(), datetime.now(UTC)) == []


def test_training_progress_is_read_from_rasas_own_output() -> None:
    stage, update = read_progress("2026-11-27 10:00:01 INFO rasa.engine.training.hooks - Starting to train "
                                  "component 'DIETClassifier'.\n", "starting")
    assert stage == "DIETClassifier" and update == {"stage": "DIETClassifier"}
    bars = "\rEpochs:   5%|▌         | 2/40 [00:03<01:00, 1.2it/s, t_loss=3.1]\rEpochs:  45%|████▌     | 18/40 [00:2"
    assert read_progress(bars, stage) == ("DIETClassifier", {"stage": "DIETClassifier", "epoch": 18, "epochs": 40})
    assert read_progress("nothing to see\n", stage) == ("DIETClassifier", None)


def test_every_process_follows_the_route_within_its_cache_and_keeps_the_last_url_on_a_database_hiccup() -> None:
    answers: list[str | None | Exception] = [None, "http://green:5005/", RuntimeError("database down")]

    def read() -> str | None:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    url = LiveRasaUrl("http://blue:5005", ttl_seconds=0, read=read)
    assert url() == "http://blue:5005"  # no route yet: RASA_URL
    assert url() == "http://green:5005"
    assert url() == "http://green:5005"  # the database failed: the last known server
    cached = LiveRasaUrl("http://blue:5005", ttl_seconds=60, read=lambda: "http://green:5005")
    assert cached() == cached() == "http://green:5005"


def test_a_route_row_naming_one_replica_names_its_whole_role_and_the_standby_never_shares_a_server(
        session: Session, stripe_env: pytest.MonkeyPatch) -> None:
    """A route written before the roles had replicas ("http://blue:5005") or with them in another order: the live
    role is still all of blue's replicas, a load goes to green's, never to a server debtors talk to."""
    from bot.admin.model_jobs import live, standby_url
    from bot.ledger.models import DialogueRoute
    from bot.messaging.dialogue_route import ROUTE_ID

    blue, green = "http://blue:5005,http://blue-2:5005", "http://green:5005,http://green-2:5005"
    stripe_env.setenv("RASA_URL", f"{blue}/")
    stripe_env.setenv("RASA_STANDBY_URL", green)
    get_settings.cache_clear()
    session.add(DialogueRoute(id=ROUTE_ID, live_url="http://blue:5005", live_model=LIVE))
    session.flush()
    current = live(session, get_settings())
    assert current.url == blue and standby_url(get_settings(), current.url) == green
    assert standby_url(get_settings(), "http://blue-2:5005,http://blue:5005") == green
    assert standby_url(get_settings(), "http://green-2:5005") == blue
    roles = [blue, green]
    assert LiveRasaUrl(blue, ttl_seconds=0, read=lambda: "http://green-2:5005/", roles=roles)() == green
    assert LiveRasaUrl(blue, ttl_seconds=0, read=lambda: None, roles=roles)() == blue
    assert LiveRasaUrl(blue, ttl_seconds=0, read=lambda: "http://elsewhere:5005", roles=roles)() == (
        "http://elsewhere:5005")  # a server no role names is taken as written


def test_one_job_runs_per_lane_rollbacks_first_and_a_training_never_blocks_a_rollback(session: Session) -> None:
    from bot.admin.model_jobs import SERVERS, TRAINING, WORKER, _claim

    def job(kind: str, status: str = "queued") -> ModelJob:
        added = ModelJob(kind=kind, lane=TRAINING if kind == "train" else SERVERS, model=NEW, status=status,
                         reason="x", progress={}, worker=WORKER if status == "running" else None)
        session.add(added)
        session.flush()
        return added

    running, evaluation, rollback, train = job("activate", "running"), job("evaluate"), job("rollback"), job("train")
    assert _claim(session, SERVERS) is None  # the database refuses a second running job in the lane
    claimed_train = _claim(session, TRAINING)
    assert claimed_train is not None and claimed_train.id == train.id  # training runs beside it
    running.status = "done"
    session.flush()
    first = _claim(session, SERVERS)
    assert first is not None and first.id == rollback.id  # the way back first
    assert _claim(session, SERVERS) is None and evaluation.status == "queued"


def test_only_jobs_of_dead_processes_on_this_machine_are_failed_at_start(session: Session) -> None:
    import socket

    from bot.admin.model_jobs import WORKER, recover_interrupted

    host = socket.gethostname()
    for lane, worker in (("servers", f"{host}:999999999"), ("training", WORKER)):
        session.add(ModelJob(kind="evaluate" if lane == "servers" else "train", lane=lane, status="running",
                             reason="x", progress={}, worker=worker))
    session.commit()
    assert recover_interrupted() == 1
    session.expire_all()
    statuses = {job.worker: job.status for job in session.query(ModelJob)}
    assert statuses == {f"{host}:999999999": "failed", WORKER: "running"}


def test_a_rollback_asked_before_another_switch_is_not_run(api: TestClient, session: Session,
                                                          model_admin: dict[str, str]) -> None:
    from bot.ledger.models import DialogueRoute

    session.add(DialogueRoute(id=1, live_url="http://127.0.0.1:9", live_model=NEW, previous_model=LIVE))
    session.commit()
    job = api.post("/api/admin/models/rollback", json={"reason": "volver"}, headers=model_admin).json()
    route = session.get(DialogueRoute, 1)
    assert route is not None
    route.previous_model = "acuerdo-cccc3333cccc3333"  # another switch ran meanwhile
    session.commit()
    assert model_jobs.run_next() == job["id"]
    finished = api.get(f"/api/admin/models/jobs/{job['id']}", headers=model_admin).json()
    assert finished["status"] == "failed" and "ya no es" in finished["error"]


def test_a_server_live_a_moment_ago_is_loaded_only_once_its_last_answers_are_out() -> None:
    from bot.admin.model_jobs import seconds_until_drained

    switched = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
    assert seconds_until_drained(None, 10, switched) == 0.0  # never switched: nothing in flight elsewhere
    assert seconds_until_drained(switched, 10, switched) == 12.0  # the route's second, Rasa's timeout, a margin
    assert seconds_until_drained(switched, 10, switched + timedelta(seconds=5)) == 7.0
    assert seconds_until_drained(switched, 10, switched + timedelta(minutes=1)) == 0.0
