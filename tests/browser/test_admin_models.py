"""The Modelos tab in a real headless Chromium, with no Rasa server: two small fake model files, the older one
active, and a finished evaluation of the newer one that fails on one intent. An admin sees both models, the
evaluation side by side (a table and a bar chart, the regression marked), is refused the activation, gives an
override reason and gets an activation job queued with it. A train job's epochs move the progress bar as the
page polls it, and its error shows when it fails. A supervisor sees the tab with nothing to press.

The model worker is off (MODEL_JOBS_IN_APP=false): jobs stay queued, so nothing here depends on timing."""
from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from bot.agents.users import create_user
from bot.ledger.db import session_scope
from bot.ledger.models import ModelJob, Role, utcnow
from scripts.services import free_port
from tests.browser.test_console import PASSWORD, RESULTS, signed_in
from tests.conftest import PUBLIC_BASE_URL, refresh_app_state

pytestmark = pytest.mark.e2e  # a browser test, like the others here (Chromium); it needs no Rasa server
LIVE, NEW = "acuerdo-aaaa1111", "acuerdo-bbbb2222"
OVERRIDE = "el saludo falla en dos frases raras; lo demás mejora"


def scores(greet: float, affirm: float, macro_f1: float, confusions: list[dict[str, object]]) -> dict[str, object]:
    return {"macro_f1": macro_f1, "accuracy": macro_f1 + 0.01, "per_intent": {"affirm": affirm, "deny": 0.9,
                                                                               "greet": greet},
            "stories": {"passed": 9, "total": 10, "accuracy": 0.9},
            "labelled": {"correct": 4, "total": 4, "accuracy": 1.0}, "confusions": confusions}


EVALUATION = {
    "candidate": NEW, "live": LIVE, "margins": {"overall": 0.02, "intent": 0.1}, "heldout_count": 120,
    "labelled_count": 4,
    "candidate_scores": scores(0.7, 0.96, 0.907, [{"expected": "greet", "predicted": "nlu_fallback", "count": 3,
                                                   "examples": ["hola", "buenas tardes", "qué tal"]}]),
    "live_scores": scores(0.95, 0.9, 0.917, [{"expected": "greet", "predicted": "affirm", "count": 1,
                                              "examples": ["buenas"]}]),
    "regressions": [{"metric": "intent:greet", "live": 0.95, "candidate": 0.7}],
    "passes": False,
}


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    """Two small files in place of models (the app only lists them and checks they exist); the older one active."""
    folder = tmp_path / "models"
    folder.mkdir()
    for age, name in ((3600, LIVE), (60, NEW)):
        path = folder / f"{name}.tar.gz"
        path.write_bytes(b"not a real model")
        os.utime(path, (time.time() - age, time.time() - age))
    (folder / "ACTIVE").write_text(f"{LIVE}.tar.gz\n", encoding="utf-8")
    return folder


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, database_url: str, models_dir: Path) -> Iterator[pytest.MonkeyPatch]:
    """The conftest's live_app on a unit-test database, with both Rasa URLs pointing at ports nobody listens on."""
    for key, value in {"MODELS_DIR": str(models_dir), "RASA_URL": f"http://127.0.0.1:{free_port()}",
                       "RASA_STANDBY_URL": f"http://127.0.0.1:{free_port()}", "MODEL_JOBS_IN_APP": "false",
                       "PUBLIC_BASE_URL": PUBLIC_BASE_URL, "RETRY_INTERVAL_SECONDS": "3600"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("REDIS_URL", raising=False)
    refresh_app_state()
    yield monkeypatch
    refresh_app_state()


@pytest.fixture
def evaluated() -> None:
    with session_scope() as session:
        session.add(ModelJob(kind="evaluate", lane="servers", model=NEW, status="done",
                             reason="evaluación del entrenamiento #1",
                             progress={"stage": "done"}, result={"evaluation": EVALUATION}, created_at=utcnow(),
                             started_at=utcnow(), finished_at=utcnow()))


def someone(role: Role) -> str:
    email = f"{role.value}-{uuid.uuid4().hex[:8]}@acuerdo.example"
    with session_scope() as session:
        create_user(session, email, PASSWORD, role, [], all_creditors=role is not Role.ADMIN, now=utcnow())
    return email


def models_tab(page: Page, app: str) -> None:
    page.goto(f"{app}/console/admin")
    page.get_by_role("tab", name="Modelos").click()
    expect(page.locator("#live-model")).to_have_text(LIVE)


def test_an_admin_compares_a_worse_model_and_activates_it_with_a_reason(
        live_app: str, browser: Browser, evaluated: None) -> None:
    context, page = signed_in(browser, live_app, someone(Role.ADMIN))
    models_tab(page, live_app)
    expect(page.locator("#live-previous")).to_have_text("ninguno")
    rows = page.locator("#models-list tr")
    expect(rows).to_have_count(2)
    expect(rows.first.get_by_role("rowheader")).to_have_text(NEW)  # the newest first
    expect(rows.nth(1).locator(".badge")).to_have_text("activo")
    expect(rows.first.locator(".badge")).to_have_text("evaluado: no pasa")
    expect(rows.nth(1).get_by_role("button", name="Activar")).to_be_disabled()

    table = page.get_by_role("table", name=f"Métricas: activo {LIVE} y nuevo {NEW}")
    expect(table.get_by_role("columnheader")).to_have_text(["Métrica", "Activo", "Nuevo"])
    expect(table.get_by_role("row", name=re.compile("^macro-F1"))).to_contain_text("0.917")
    expect(table.get_by_role("row", name=re.compile("^Historias de prueba"))).to_contain_text("9 de 10")
    greet = table.locator("tr.regression")
    expect(greet).to_have_count(1)
    expect(greet.get_by_role("rowheader")).to_have_text("F1 de greet")
    expect(greet.get_by_role("cell")).to_have_text(["0.950", "0.700 ▼ peor"])
    expect(table.get_by_role("row", name=re.compile("^F1 de affirm"))).not_to_have_class("regression")

    chart = page.get_by_role("figure", name="F1 por intent: activo frente a nuevo")
    expect(chart.locator(".bar-row")).to_have_count(3)
    worse = chart.locator(".bar-row.regression")
    expect(worse).to_have_count(1)
    expect(worse).to_have_attribute("data-intent", "greet")
    expect(worse.locator(".bar.live")).to_have_attribute("style", "width: 95%;")
    expect(worse.locator(".bar.candidate")).to_have_attribute("style", "width: 70%;")
    expect(page.locator(".confusion").filter(has_text=f"del nuevo ({NEW})")).to_contain_text(
        "greet → nlu_fallback: 3 veces")
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / "admin_models_evaluation.png"), full_page=True)

    rows.filter(has_text=NEW).get_by_role("button", name="Activar").click()
    form = page.locator("#model-action")
    form.get_by_label("Motivo", exact=True).fill("entiende mejor las promesas de pago")
    form.get_by_role("button", name=f"Activar {NEW}").click()
    refusal = page.locator("#model-refusal")
    expect(refusal).to_contain_text("El modelo nuevo es peor que el activo")
    expect(refusal.get_by_role("listitem")).to_have_text(["F1 de greet: activo 0.950 → nuevo 0.700"])
    form.get_by_label("Motivo para activarlo igual").fill(OVERRIDE)
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / "admin_models_refused.png"), full_page=True)
    form.get_by_role("button", name="Activar igual").click()
    expect(page.locator("#status")).to_have_text(f"Activación de {NEW} en cola.")
    expect(form).to_be_hidden()
    job = page.locator("#model-jobs li").first
    expect(job).to_contain_text(f"Activar {NEW}")
    expect(job).to_contain_text("en cola")
    expect(job).to_contain_text(f"Activado pese a la evaluación: {OVERRIDE}")
    with session_scope() as session:
        queued = session.scalars(select(ModelJob).where(ModelJob.kind == "activate")).one()
        assert (queued.model, queued.status, queued.reason, queued.override_reason) == (
            NEW, "queued", "entiende mejor las promesas de pago", OVERRIDE)
        assert queued.requested_by is not None
    context.close()


def test_the_page_follows_a_training_job_until_it_fails(live_app: str, browser: Browser) -> None:
    with session_scope() as session:
        job = ModelJob(kind="train", lane="training", status="running", reason="ejemplos nuevos", created_at=utcnow(),
                       started_at=utcnow(), progress={"stage": "DIETClassifier", "epoch": 18, "epochs": 40})
        session.add(job)
        session.flush()
        job_id = job.id
    context, page = signed_in(browser, live_app, someone(Role.ADMIN))
    models_tab(page, live_app)
    bar = page.get_by_role("progressbar", name=re.compile("^Entrenando "))
    expect(bar).to_have_accessible_name("Entrenando DIETClassifier · época 18 de 40")
    expect(bar).to_have_attribute("value", "18")
    expect(bar).to_have_attribute("max", "40")
    expect(page.locator("#train-stage")).to_have_text("Entrenando DIETClassifier · época 18 de 40")
    expect(page.get_by_role("button", name="Entrenar modelo nuevo")).to_be_disabled()

    with session_scope() as session:
        running = session.get(ModelJob, job_id)
        assert running is not None
        running.progress = {"stage": "TEDPolicy", "epoch": 30, "epochs": 40}
    expect(page.locator("#train-stage")).to_have_text("Entrenando TEDPolicy · época 30 de 40")
    expect(bar).to_have_attribute("value", "30")
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / "admin_models_training.png"), full_page=True)

    with session_scope() as session:
        failed = session.get(ModelJob, job_id)
        assert failed is not None
        failed.status, failed.finished_at, failed.error = "failed", utcnow(), "rasa train exited with 1:\nsin memoria"
    expect(page.locator("#train-error")).to_have_text("rasa train exited with 1:\nsin memoria")
    expect(page.locator("#train-progress")).to_be_hidden()
    expect(page.get_by_role("button", name="Entrenar modelo nuevo")).to_be_enabled()
    expect(page.locator(f'#model-jobs [data-job="{job_id}"]')).to_contain_text("falló")
    context.close()


def test_a_supervisor_sees_the_models_and_can_change_none(live_app: str, browser: Browser,
                                                          evaluated: None) -> None:
    context, page = signed_in(browser, live_app, someone(Role.SUPERVISOR))
    models_tab(page, live_app)
    expect(page.get_by_role("table", name=f"Métricas: activo {LIVE} y nuevo {NEW}")).to_be_visible()
    expect(page.get_by_role("figure", name="F1 por intent: activo frente a nuevo")).to_be_visible()
    expect(page.locator("#models-list tr")).to_have_count(2)
    for name in ("Entrenar modelo nuevo", "Volver al modelo anterior", "Evaluar", "Activar"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.get_by_role("columnheader", name="Acciones")).to_have_count(0)
    status = page.evaluate("""fetch('/api/admin/models/train', {method: 'POST', body: JSON.stringify({reason:
        'por probar'}), headers: {'Content-Type': 'application/json', 'X-CSRF-Token': CSRF}}).then(r => r.status)""")
    assert status == 403
    context.close()
