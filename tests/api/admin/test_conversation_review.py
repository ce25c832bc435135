"""Conversation review, end to end: a debtor chats through the signed WhatsApp webhook with the real model and
action server; the admin finds the conversation by intent, country, outcome and hand-off reason, reads it
redacted, and marks a bot turn wrong with the intended answer. The test story it becomes is Rasa's own record
of the conversation: `rasa test core` replays it faithfully (the same turn with the answer the bot really gave
passes) and fails on the marked turn until a model learns it."""
from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from api.deps import rasa_api
from bot.admin import inbox, review
from bot.admin.rasa_model import RASA_BIN, active_model
from bot.agents.users import create_user, issue_token
from bot.common.settings import get_settings
from bot.ledger.db import session_scope
from bot.ledger.models import Conversation, Role, utcnow
from tests.api.conftest import signed_post, twiml_messages, whatsapp_form
from tests.conftest import TOKEN, Stack
from tests.rasa.test_rasa_project import ENV

pytestmark = pytest.mark.e2e
JORGE = "+51987444555"  # E-PE-4 in the e2e portfolio, DNI 43334444
INTENDED = "utter_take_your_time"


@pytest.fixture
def stories_file(tmp_path: Path, app_env: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "review" / "test_review_stories.yml"
    app_env.setenv("REVIEW_STORIES_FILE", str(path))
    get_settings.cache_clear()
    return path


def bearer(stack: Stack, role: Role) -> dict[str, str]:
    with session_scope(stack.database_url) as session:
        user = create_user(session, f"review-{role.value}-{utcnow().timestamp()}@acuerdo.example", "una clave larga",
                           role, [], all_creditors=True, now=utcnow())
        token, _ = issue_token(session, user, address="127.0.0.1", now=utcnow())
    return {"Authorization": f"Bearer {token}"}


def say(client: TestClient, body: str) -> list[str]:
    return twiml_messages(signed_post(client, "/webhooks/twilio/whatsapp", whatsapp_form(JORGE, body)))


def action_that_said(rasa_url: str, sender_id: str, text: str) -> str:
    """Read from the tracker directly (not through the code under test): the action behind a bot message."""
    events = httpx.get(f"{rasa_url}/conversations/{sender_id}/tracker", params={"token": TOKEN}, timeout=30).json()
    said = max(i for i, event in enumerate(events["events"]) if event["event"] == "bot" and event["text"] == text)
    return next(event["name"] for event in reversed(events["events"][:said]) if event["event"] == "action")


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)  # one stack: the same tables and tracker API
def test_an_admin_finds_a_conversation_and_turns_a_wrong_bot_turn_into_a_test_story(
        client: TestClient, stack: Stack, stories_file: Path, tmp_path: Path) -> None:
    asked_digits = say(client, "hola buenas")
    verified = say(client, "4444")
    balance = say(client, "cuanto debo en total?")
    handed = say(client, "quiero hablar con una persona por favor")
    assert "dígitos" in asked_digits[-1] and "confirmé tu identidad" in verified[0] and balance and handed
    with session_scope(stack.database_url) as session:  # the inbox pass labels every message with its intent
        inbox.refresh(session, rasa_api(), utcnow() + timedelta(minutes=5))

    admin, supervisor = bearer(stack, Role.ADMIN), bearer(stack, Role.SUPERVISOR)

    def search(**filters: str) -> list[dict[str, Any]]:
        response = client.get("/api/admin/review/conversations", params=filters, headers=supervisor)
        assert response.status_code == 200, response.text
        return response.json()

    found = search(country="PE", intent="ask_balance", outcome="handoff", handoff_reason="debtor_request")
    mine = [summary for summary in found if "ask_balance" in summary["intents"]]
    assert len(mine) >= 1 and "handoff" in mine[0]["outcomes"] and "debtor_request" in mine[0]["handoff_reasons"]
    conversation_id = mine[0]["id"]
    assert conversation_id not in [s["id"] for s in search(country="AR")]
    assert conversation_id not in [s["id"] for s in search(intent="promise_to_pay")]
    assert conversation_id not in [s["id"] for s in search(outcome="none")]
    assert client.get("/api/admin/review/conversations", params={"outcome": "feliz"},
                      headers=admin).status_code == 422

    transcript = client.get(f"/api/admin/review/conversations/{conversation_id}", headers=supervisor).json()
    turns = transcript["turns"]
    question = next(i for i, turn in enumerate(turns) if "dígitos" in turn["text"])
    assert not any(ch.isdigit() for ch in turns[question + 1]["text"])  # the identity answer is never shown
    assert "4444" not in str(transcript) and "43334444" not in str(transcript)
    asked = next(turn for turn in turns if turn["text"] == "cuanto debo en total?")
    assert asked["intent"] == "ask_balance" and asked["confidence"] > 0.5
    bot_turn = next(turn for turn in turns[turns.index(asked):] if turn["direction"] == "outbound")

    mark = f"/api/admin/review/conversations/{conversation_id}/messages/{bot_turn['message_id']}/wrong"
    assert client.post(mark, json={"intended": INTENDED}, headers=supervisor).status_code == 403
    assert client.post(mark, json={"intended": "utter_inventada"}, headers=admin).json()["detail"]["field"] == \
        "intended"
    marked = client.post(mark, json={"intended": INTENDED}, headers=admin)
    assert marked.status_code == 201, marked.text
    assert client.post(mark, json={"intended": INTENDED}, headers=admin).status_code == 422  # marked already
    with session_scope(stack.database_url) as session:
        conversation = session.get(Conversation, conversation_id)
        assert conversation is not None
        actual = action_that_said(stack.servers.rasa_url, conversation.sender_id, bot_turn["text"])
        assert actual != INTENDED
        review.mark_wrong(session, rasa_api(), conversation, bot_turn["message_id"], actual, stories_file,
                          get_settings().domain_file)  # the same turn, as the bot really answered: a control

    written = yaml.safe_load(stories_file.read_text(encoding="utf-8"))
    wrong, control = written["stories"]
    assert wrong["steps"][-1] == {"action": INTENDED} and control["steps"][-1] == {"action": actual}
    said = [step for step in wrong["steps"] if "intent" in step]
    assert said[0] == {"user": "hola buenas", "intent": "greet"}
    assert set(said[1]) == {"intent"}  # the identity answer: its intent, never its words
    assert said[2] == {"user": "cuanto debo en total?", "intent": "ask_balance"}
    assert "43334444" not in stories_file.read_text(encoding="utf-8")
    assert "Jorge" not in stories_file.read_text(encoding="utf-8")

    result = subprocess.run([str(RASA_BIN), "test", "core", "--model", str(active_model()), "--stories",
                             str(stories_file), "--out", str(tmp_path / "results")], env=ENV, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    failed = yaml.safe_load((tmp_path / "results" / "failed_test_stories.yml").read_text()) or {}
    # Rasa names a failed story with its file: only the marked one fails, the control replays as it happened
    assert [story["story"].split(" (")[0] for story in failed.get("stories") or []] == [wrong["story"]]

    history = client.get("/api/admin/history", params={"kind": "test_story"}, headers=admin).json()
    assert history[0]["after"]["story"] == wrong["story"]
    undone = client.post(f"/api/admin/history/{history[0]['id']}/revert", headers=admin)
    assert undone.status_code == 200, undone.text
    assert [story["story"] for story in yaml.safe_load(stories_file.read_text())["stories"]] == [control["story"]]


def test_review_is_for_supervisors_and_admins(client: TestClient, stack: Stack) -> None:
    agent = bearer(stack, Role.AGENT)
    assert client.get("/api/admin/review/conversations", headers=agent).status_code == 403
    assert client.get("/api/admin/review/answers", headers=agent).status_code == 403
    assert client.get("/api/admin/review/conversations").status_code == 401
    answers = client.get("/api/admin/review/answers", headers=bearer(stack, Role.SUPERVISOR)).json()
    assert {INTENDED, "utter_greet"} <= set(answers)
