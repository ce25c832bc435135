"""`acuerdo model …`: the gate's refusals, the jobs queued from the command line, a (fake) training's progress.

No Rasa here: the standby is a closed port, so a switch fails where it would load the model, and `rasa train` is a
script that prints Rasa's progress lines and writes the model file."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.common.settings import get_settings
from bot.ledger.db import session_scope
from bot.ledger.models import AuditLog, DialogueRoute, ModelJob, utcnow
from bot.tools import cli
from bot.tools.cli import main
from scripts.services import free_port

LIVE, NEW = "acuerdo-1111aaaa2222bbbb", "acuerdo-3333cccc4444dddd"


@pytest.fixture
def models(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two fake models, the first recorded as active; both Rasa servers are closed ports."""
    folder = tmp_path / "models"
    folder.mkdir()
    for name in (LIVE, NEW):
        (folder / f"{name}.tar.gz").write_bytes(b"\0" * 1024)
    (folder / "ACTIVE").write_text(f"{LIVE}.tar.gz\n", encoding="utf-8")
    monkeypatch.setenv("MODELS_DIR", str(folder))
    monkeypatch.setenv("RASA_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("RASA_STANDBY_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setattr(cli, "JOB_POLL_SECONDS", 0.05)
    get_settings.cache_clear()
    return folder


def evaluated(passes: bool, regressions: list[dict[str, Any]]) -> None:
    """A finished evaluation of NEW against LIVE, as the evaluate job stores it."""
    with session_scope() as session:
        session.add(ModelJob(kind="evaluate", lane="servers", status="done", model=NEW, reason="test", progress={},
                             result={"evaluation": {"candidate": NEW, "live": LIVE,
                                                    "margins": {"overall": 0.02, "intent": 0.1},
                                                    "passes": passes, "regressions": regressions}},
                             created_at=utcnow(), finished_at=utcnow()))


def jobs() -> list[ModelJob]:
    with session_scope() as session:
        return list(session.scalars(select(ModelJob).order_by(ModelJob.id)))


def test_rollback_without_a_previous_model_is_refused(models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "rollback", "--reason", "el nuevo confunde pagos"]) == 2
    assert "No hay un modelo anterior al que volver." in capsys.readouterr().err
    assert jobs() == []


def test_activating_an_unknown_model_is_refused(models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "activate", "acuerdo-nope", "--reason", "probar"]) == 2
    assert "No existe el modelo acuerdo-nope." in capsys.readouterr().err
    assert jobs() == []


def test_a_model_never_evaluated_is_refused_with_what_to_run(models: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "activate", NEW, "--reason", "probar"]) == 2
    err = capsys.readouterr().err
    assert "Primero hay que evaluar este modelo frente al activo." in err
    assert f"acuerdo model evaluate {NEW} --reason" in err


def test_a_reason_is_required(models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["model", "train"])
    assert main(["model", "train", "--reason", "  "]) == 2
    assert jobs() == []


def test_a_worse_model_is_refused_with_its_regressions_unless_overridden(
        models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evaluated(False, [{"metric": "intent:ask_why_amount_grew", "live": 0.95, "candidate": 0.8}])
    assert main(["model", "activate", NEW, "--reason", "más ejemplos de intereses"]) == 2
    err = capsys.readouterr().err
    assert "El modelo nuevo es peor que el activo" in err
    assert "worse by more than 0.02 (each intent's F1: 0.1) on:" in err
    assert "intent:ask_why_amount_grew: live 0.950, new 0.800" in err
    assert "--override-reason" in err
    assert [job.kind for job in jobs()] == ["evaluate"]

    # Overridden, the activation is queued and run here: it fails where it would load the model on the standby.
    assert main(["model", "activate", NEW, "--reason", "más ejemplos de intereses",
                 "--override-reason", "la caída es de 3 frases mal etiquetadas"]) == 1
    out, err = capsys.readouterr()
    activation = jobs()[-1]
    assert (activation.kind, activation.model, activation.status) == ("activate", NEW, "failed")
    assert (activation.requested_by, activation.reason) == (None, "más ejemplos de intereses")
    assert activation.override_reason == "la caída es de 3 frases mal etiquetadas"
    assert f"#{activation.id} activate: loading" in out
    assert f"error: model job #{activation.id} (activate) failed:" in err
    with session_scope() as session:  # nothing switched
        assert session.get(DialogueRoute, 1) is None
        assert session.scalars(select(AuditLog).where(AuditLog.action.like("model_%"))).first() is None
    assert (models / "ACTIVE").read_text(encoding="utf-8") == f"{LIVE}.tar.gz\n"


def test_list_marks_the_live_and_the_previous_model(models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evaluated(True, [])
    assert main(["model", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"live: {LIVE} on {get_settings().rasa_url}"
    assert any(line.startswith(f"* {LIVE} ") and line.endswith("[live]") for line in lines)
    assert any(line.startswith(f"  {NEW} ") and line.endswith("[evaluated: passes]") for line in lines)

    with session_scope() as session:  # an admin switched to NEW on the standby: the route says so
        session.add(DialogueRoute(id=1, live_url=str(get_settings().rasa_standby_url), live_model=NEW,
                                  previous_model=LIVE))
    assert main(["model", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"live: {NEW} on {get_settings().rasa_standby_url} (rollback goes back to {LIVE})"
    assert any(line.startswith(f"* {NEW} ") and line.endswith("[live]") for line in lines)
    assert any(line.startswith(f"  {LIVE} ") and line.endswith("[previous]  [models/ACTIVE: a restart runs it]")
               for line in lines)


def test_rollback_goes_back_to_the_previous_model(models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with session_scope() as session:
        session.add(DialogueRoute(id=1, live_url=str(get_settings().rasa_standby_url), live_model=NEW,
                                  previous_model=LIVE))
    assert main(["model", "rollback", "--reason", "el nuevo confunde pagos"]) == 1  # no Rasa to load it on
    rollback = jobs()[-1]
    assert (rollback.kind, rollback.model, rollback.status, rollback.requested_by) == ("rollback", LIVE, "failed",
                                                                                      None)
    assert f"error: model job #{rollback.id} (rollback) failed:" in capsys.readouterr().err


def scores(macro_f1: float, stories: int, labelled: int) -> dict[str, Any]:
    return {"macro_f1": macro_f1, "accuracy": macro_f1, "per_intent": {}, "confusions": [],
            "stories": {"passed": stories, "total": 10, "accuracy": stories / 10},
            "labelled": {"correct": labelled, "total": 4, "accuracy": labelled / 4}}


def test_a_job_another_worker_runs_is_followed_to_its_end(models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with session_scope() as session:  # the evaluation a train queued, taken by the app's model worker
        job = ModelJob(kind="evaluate", lane="servers", status="running", model=NEW,
                       reason="evaluación del entrenamiento #1",
                       progress={"stage": "parsing"}, created_at=utcnow(), started_at=utcnow())
        session.add(job)
        session.flush()
        job_id = job.id
    codes: list[int] = []
    command = threading.Thread(target=lambda: codes.append(main(["model", "evaluate", NEW, "--reason", "ver"])))
    command.start()
    time.sleep(0.5)
    with session_scope() as session:
        session.execute(update(ModelJob).where(ModelJob.id == job_id).values(progress={"stage": "stories"}))
    time.sleep(0.5)
    with session_scope() as session:
        job = session.get(ModelJob, job_id)
        assert job is not None
        job.status, job.finished_at = "done", utcnow()
        job.result = {"evaluation": {"candidate": NEW, "live": LIVE, "margins": {"overall": 0.02, "intent": 0.1},
                                     "heldout_count": 500, "labelled_count": 4, "passes": True, "regressions": [],
                                     "candidate_scores": scores(0.961, 10, 4), "live_scores": scores(0.955, 9, 3)}}
    command.join(timeout=10)
    assert codes == [0]
    out = capsys.readouterr().out
    assert out.splitlines() == [
        f"#{job_id} evaluate: parsing",
        f"#{job_id} evaluate: stories",
        f"#{job_id} evaluate: done",
        f"{NEW} against the live {LIVE}: passes",
        "  new: held-out macro-F1 0.961, test stories 10/10, admins' examples 4/4",
        "  live: held-out macro-F1 0.955, test stories 9/10, admins' examples 3/4",
    ]
    assert [job.id for job in jobs()] == [job_id]  # followed, not asked for twice
