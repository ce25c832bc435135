"""A model's life, end to end, with the real parts: an admin teaches the bot a new paraphrase through the admin
API, trains (a background job reporting its epochs), reads the evaluation against the live model, and activates
it while a debtor keeps chatting through signed WhatsApp webhooks — mid-verification, across the switch, with no
message lost, none answered twice and no reply slower than Twilio's 15 seconds. The live bot then understands
the paraphrase; a rollback brings the old behaviour back at once. Activating the old model again is refused (it
is worse on what the admin taught) and goes through only with a reason, which lands in the audit log.

Two Rasa servers share the production stack's Redis tracker store (blue/green); PostgreSQL holds the route.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from api.main import create_app
from bot.agents.users import create_user, issue_token
from bot.common.settings import get_settings
from bot.ledger.db import session_scope
from bot.ledger.models import AuditLog, Conversation, DialogueRoute, Direction, Message, Role, utcnow
from scripts.services import free_port
from tests.api.conftest import signed_post, twiml_messages, whatsapp_form
from tests.conftest import TOKEN, Stack, refresh_app_state, trained_model

pytestmark = pytest.mark.e2e
ROCIO = "+525515150000"  # E-MX-15 in the e2e portfolio, document 5151515151: mid-verification at the switch
MATEO = "+525516160000"  # E-MX-16, document 6161616161: chats all through the switch
PARAPHRASE = "mi deuda se hizo bola de nieve, que paso"  # never trained on: the live bot must generalise to it
TAUGHT = ["esto se volvio una bola de nieve, por que", "la cuenta es una bola de nieve, como paso",
          "se me hizo bola de nieve el credito y no entiendo por que",
          "como es que se volvio bola de nieve lo que debo", "bola de nieve la deuda, explicame eso",
          "ya es una bola de nieve mi saldo, por que crecio", "por que mi tarjeta se hizo bola de nieve",
          "el saldo se me volvio una bola de nieve, explicame"]
INTENT = "ask_why_amount_grew"
TWILIO_LIMIT_SECONDS = 15


@pytest.fixture
def blue_green(stack: Stack, app_env: pytest.MonkeyPatch, training_copy: Path, tmp_path: Path) -> Iterator[str]:
    """A standby Rasa server beside the stack's (same model, same tracker store) and a models folder of this
    test's own; the route is removed afterwards, so the other tests talk to the stack's server again."""
    models = tmp_path / "models"
    models.mkdir()
    original = trained_model()
    (models / original.name).symlink_to(original)
    (models / "ACTIVE").write_text(original.name + "\n", encoding="utf-8")
    standby = stack.servers.add_rasa(original, free_port())
    # A training cache of its own: with the project's, a second run of the suite finds this test's DIET already
    # trained, and no epochs would be reported while it trains.
    for key, value in {"MODELS_DIR": str(models), "RASA_STANDBY_URL": standby, "MODEL_GATE_MARGIN": "0.03",
                       "MODEL_GATE_INTENT_MARGIN": "0.25",
                       "RASA_CACHE_DIRECTORY": str(tmp_path / "rasa-cache")}.items():
        app_env.setenv(key, value)
    refresh_app_state()
    yield standby
    with session_scope(stack.database_url) as session:
        session.execute(delete(DialogueRoute))
    process = stack.servers.processes.pop()
    process.terminate()
    process.wait(timeout=30)
    refresh_app_state()


def admin_headers(stack: Stack) -> dict[str, str]:
    with session_scope(stack.database_url) as session:
        user = create_user(session, f"models-{utcnow().timestamp()}@acuerdo.example", "una clave larga",
                           Role.ADMIN, [], all_creditors=True, now=utcnow())
        token, _ = issue_token(session, user, address="127.0.0.1", now=utcnow())
    return {"Authorization": f"Bearer {token}"}


class Debtor(threading.Thread):
    """A debtor writing on WhatsApp (started: every moment until told to stop); each webhook timed."""

    def __init__(self, client: TestClient, phone: str) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.phone = phone
        self.stop = threading.Event()
        self.turns: list[tuple[str, list[str], float]] = []
        self.failure: BaseException | None = None

    def say(self, text: str) -> list[str]:
        started = time.monotonic()
        replies = twiml_messages(signed_post(self.client, "/webhooks/twilio/whatsapp", whatsapp_form(self.phone, text)))
        self.turns.append((text, replies, time.monotonic() - started))
        return replies

    def run(self) -> None:
        try:
            chatter = ["cuanto debo en total?", "ok gracias"]
            while not self.stop.is_set():
                for text in chatter:
                    self.say(text)
                    time.sleep(0.3)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.failure = exc


def wait_for(client: TestClient, headers: dict[str, str], job_id: int, timeout: float = 900) -> dict[str, Any]:
    deadline, seen_epochs = time.monotonic() + timeout, set()
    while time.monotonic() < deadline:
        job = client.get(f"/api/admin/models/jobs/{job_id}", headers=headers).json()
        if job["progress"].get("epoch"):
            seen_epochs.add((job["progress"]["stage"], job["progress"]["epoch"]))
        if job["status"] in ("done", "failed"):
            job["seen_epochs"] = seen_epochs
            return job
        time.sleep(1)
    raise AssertionError(f"job {job_id} did not finish within {timeout} s")


def stored(stack: Stack, phone: str) -> tuple[list[int], list[int | None]]:
    """The debtor's inbound message ids, and what each stored outbound message answers."""
    with session_scope(stack.database_url) as session:
        conversation = session.scalars(select(Conversation).where(Conversation.sender_id == f"whatsapp:{phone}")).one()
        messages = session.scalars(select(Message).where(Message.conversation_id == conversation.id)).all()
        return ([m.id for m in messages if m.direction == Direction.INBOUND],
                [m.in_reply_to_id for m in messages if m.direction == Direction.OUTBOUND])


def live_intent(text: str) -> str:
    """What the live server (as the route says) makes of `text`, asked directly, not through the code under test."""
    with session_scope() as session:
        url = session.scalars(select(DialogueRoute.live_url)).one()
    response = httpx.post(f"{url}/model/parse", params={"token": TOKEN}, json={"text": text}, timeout=30)
    return str(response.json()["intent"]["name"])


@pytest.mark.parametrize("stack", ["production"], indirect=True)
def test_train_evaluate_activate_while_a_debtor_chats_then_refuse_override_and_roll_back(
        stack: Stack, blue_green: str) -> None:
    settings = get_settings()
    original = trained_model().name.removesuffix(".tar.gz")
    with TestClient(create_app()) as client:
        admin = admin_headers(stack)
        for text in TAUGHT:
            added = client.post("/api/admin/nlu/examples", json={"intent": INTENT, "text": text}, headers=admin)
            assert added.status_code == 201, added.text

        train = client.post("/api/admin/models/train", json={"reason": "bola de nieve (issue 21)"}, headers=admin)
        assert train.status_code == 202, train.text
        trained = wait_for(client, admin, train.json()["id"])
        assert trained["status"] == "done", trained["error"]
        new = trained["model"]
        assert new != original and (settings.models_dir / f"{new}.tar.gz").exists()
        assert any(stage == "DIETClassifier" for stage, _ in trained["seen_epochs"])  # progress came live

        listed = client.get("/api/admin/models", headers=admin).json()
        assert listed["live"]["model"] == original
        evaluation_job = next(job for job in listed["jobs"] if job["kind"] == "evaluate" and job["model"] == new)
        evaluated = wait_for(client, admin, evaluation_job["id"])
        assert evaluated["status"] == "done", evaluated["error"]
        evaluation = client.get(f"/api/admin/models/{new}/evaluation", headers=admin).json()
        assert evaluation["passes"], evaluation["regressions"]
        assert evaluation["labelled_count"] == len(TAUGHT) and evaluation["heldout_count"] > 500
        new_scores, live_scores = evaluation["candidate_scores"], evaluation["live_scores"]
        assert new_scores["labelled"]["accuracy"] > live_scores["labelled"]["accuracy"]
        assert new_scores["macro_f1"] > 0.9 and live_scores["stories"]["total"] > 0
        assert INTENT in new_scores["per_intent"] and new_scores["confusions"]

        rocio, mateo = Debtor(client, ROCIO), Debtor(client, MATEO)
        assert "dígitos" in rocio.say("hola")[-1]  # the identity form asks; the answer comes after the switch
        mateo.say("hola")
        assert "confirmé tu identidad" in mateo.say("6161")[0]
        activation = client.post(f"/api/admin/models/{new}/activate", json={"reason": "aprende bola de nieve"},
                                 headers=admin)
        assert activation.status_code == 202, activation.text
        mateo.start()
        activated = wait_for(client, admin, activation.json()["id"])
        assert activated["status"] == "done", activated["error"]
        assert activated["result"]["server"] == blue_green
        time.sleep(1.5)  # every process follows the route within a second
        verified = rocio.say("5151")  # the form begun on the old server ends on the new one
        assert "confirmé tu identidad" in verified[0], verified
        time.sleep(3)
        mateo.stop.set()
        mateo.join(timeout=60)
        assert mateo.failure is None, mateo.failure
        assert live_intent(PARAPHRASE) == INTENT
        assert len(mateo.turns) > 10  # he kept writing while the standby loaded the model
        for debtor in (rocio, mateo):
            assert max(seconds for _, _, seconds in debtor.turns) < TWILIO_LIMIT_SECONDS
            assert all(replies for _, replies, _ in debtor.turns)  # every message answered in its webhook
            inbound, replies_to = stored(stack, debtor.phone)
            assert len(inbound) == len(debtor.turns)  # none lost
            assert set(inbound) <= set(replies_to)  # each answered …
            assert sum(len(replies) for _, replies, _ in debtor.turns) == len(replies_to)  # … once

        rollback = client.post("/api/admin/models/rollback", json={"reason": "probar el anterior"}, headers=admin)
        assert rollback.status_code == 202, rollback.text
        assert wait_for(client, admin, rollback.json()["id"])["status"] == "done"
        assert live_intent(PARAPHRASE) != INTENT  # the old behaviour, at once: the old server kept its model
        assert (settings.models_dir / "ACTIVE").read_text(encoding="utf-8").strip() == f"{original}.tar.gz"
        again = client.post(f"/api/admin/models/{new}/activate", json={"reason": "de vuelta"}, headers=admin)
        assert wait_for(client, admin, again.json()["id"])["status"] == "done"
        assert live_intent(PARAPHRASE) == INTENT

        back = client.post(f"/api/admin/models/{original}/evaluate", json={"reason": "¿volver?"}, headers=admin)
        assert wait_for(client, admin, back.json()["id"])["status"] == "done"
        refused = client.post(f"/api/admin/models/{original}/activate", json={"reason": "volver"}, headers=admin)
        assert refused.status_code == 409 and refused.json()["code"] == "worse"  # it forgot what the admin taught
        assert "labelled" in [regression["metric"] for regression in refused.json()["evaluation"]["regressions"]]
        assert live_intent(PARAPHRASE) == INTENT

        forced = client.post(f"/api/admin/models/{original}/activate", headers=admin,
                             json={"reason": "volver", "override_reason": "el nuevo confunde pagos (prueba)"})
        assert forced.status_code == 202, forced.text
        assert wait_for(client, admin, forced.json()["id"])["status"] == "done"
        assert live_intent(PARAPHRASE) != INTENT
        with session_scope(stack.database_url) as session:
            audit = session.scalars(select(AuditLog).where(AuditLog.action == "model_activate",
                                                           AuditLog.entity_id == original)).all()
        assert [entry.details["override_reason"] for entry in audit] == ["el nuevo confunde pagos (prueba)"]
