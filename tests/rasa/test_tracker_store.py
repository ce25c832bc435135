"""The tracker store production's Rasa servers use (rasa_server/tracker_store.py), through a running Rasa server
with Redis: it must keep the conversation's history Rasa's own Redis store keeps, in the same format, minus
what is older than the retention."""
from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import httpx
import redis
import yaml

from bot.admin.rasa_model import RASA_BIN
from bot.common.settings import PROJECT_ROOT
from scripts.servers import TRACKER_STORE
from tests.conftest import TOKEN, Stack

DAY = 24 * 3600


def a_session(start: float, text: str) -> list[dict[str, Any]]:
    """A finished session as Rasa stores it: started, the debtor said `text`, the bot answered."""
    return [
        {"event": "action", "name": "action_session_start", "timestamp": start},
        {"event": "session_started", "timestamp": start + 0.01},
        {"event": "action", "name": "action_listen", "timestamp": start + 0.02},
        {"event": "user", "text": text, "timestamp": start + 0.03,
         "parse_data": {"intent": {"name": "greet", "confidence": 1.0}, "entities": [], "text": text}},
        {"event": "bot", "text": "¡Hola!", "timestamp": start + 0.04},
        {"event": "action", "name": "action_listen", "timestamp": start + 0.05},
    ]


def user_texts(events: list[dict[str, Any]]) -> list[str]:
    return [event["text"] for event in events if event.get("event") == "user"]


def test_a_turn_keeps_the_earlier_sessions_but_nothing_older_than_the_retention(production_stack: Stack) -> None:
    assert production_stack.redis_url is not None
    sender = "whatsapp:+5215599990001"  # nobody in the portfolio: the bot only greets and asks who it is
    key = f"acuerdo:tracker:{sender}"
    store = redis.Redis.from_url(production_stack.redis_url)
    now = time.time()
    store.set(key, json.dumps({"name": sender, "events": a_session(now - 30 * DAY, "hace un mes")
                                                         + a_session(now - 2 * 3600, "hace dos horas")}))

    answer = httpx.post(f"{production_stack.servers.rasa_url}/webhooks/rest/webhook",
                        json={"sender": sender, "message": "hola"}, timeout=60)

    assert answer.status_code == 200 and answer.json()
    events = json.loads(store.get(key) or b"{}")["events"]
    assert user_texts(events) == ["hace dos horas", "hola"]  # a month ago is past the 7 days kept
    assert [event["name"] for event in events if event.get("event") == "action"].count("action_session_start") == 2
    assert min(event["timestamp"] for event in events) >= now - 7 * DAY
    assert 0 < store.ttl(key) <= 7 * DAY
    # Rasa's API still gives the whole kept history (conversation review reads it), the dialogue the last session
    tracker = httpx.get(f"{production_stack.servers.rasa_url}/conversations/{sender}/tracker",
                        params={"token": TOKEN}, timeout=30).json()
    assert user_texts(tracker["events"]) == ["hace dos horas", "hola"]
    assert tracker["latest_message"]["text"] == "hola"


def test_production_names_a_store_rasa_can_import() -> None:
    # Rasa falls back to an in-memory store, with only a warning, when the class named in the endpoints does not
    # import: each server would then keep trackers of its own. The production endpoints must name one that does.
    named = yaml.safe_load((PROJECT_ROOT / "endpoints.production.yml").read_text())["tracker_store"]["type"]
    assert named == TRACKER_STORE  # the one the test stack (scripts/servers.py) runs
    loaded = subprocess.run(
        [str(RASA_BIN.with_name("python")), "-c", "import sys; from rasa.shared.utils.common import "
         "class_from_module_path as load; print(load(sys.argv[1]).__mro__[1].__name__)", named],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 0 and loaded.stdout.split()[-1] == "RedisTrackerStore", loaded.stderr[-2000:]
