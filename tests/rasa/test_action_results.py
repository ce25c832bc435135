"""rasa_server/action_results.py replaces how the running Rasa checks an action server's answer: the verdict, and
the error an action server that answers badly gets, must be Rasa's own. Run in the Rasa venv."""
from __future__ import annotations

import json
import subprocess

from bot.admin.rasa_model import RASA_BIN
from bot.common.settings import PROJECT_ROOT

ANSWERS = [
    {"events": [{"event": "slot", "name": "identity_verified", "value": True, "timestamp": None},
                {"event": "active_loop", "name": None}, {"event": "followup", "name": "action_listen"}],
     "responses": [{"text": "Gracias, ya te identifiqué."}, {"response": "utter_balance", "amount": "1.234,50"}]},
    {"events": [], "responses": []},
    {},
    {"events": [{"event": "user", "text": "hola", "parse_data": {
        "intent": {"name": "greet", "confidence": 0.9}, "entities": [{"entity": "amount", "value": 1200}]}},
        {"event": "bot", "text": "¡Hola!", "metadata": None}, {"event": "action", "name": "action_listen"},
        {"event": "reset_slots"}, {"event": "form", "name": None}, {"event": "session_started"},
        {"event": "followup", "name": "action_x"}, {"event": "pause"}, {"event": "resume"}]},
]
GOOD = len(ANSWERS)
ANSWERS += [
    {"events": [{"event": "unheard_of"}]},  # no event schema has that name
    {"events": [{"event": "slot", "name": "x", "value": None}, {"event": 5}]},
    {"events": [{"event": ["slot"], "name": "x", "value": None}]},
    {"events": [{"name": "x", "value": None}]},  # no event name at all
    {"events": [{"event": "slot", "name": "x", "value": None, "timestamp": "ayer"}]},  # the common part fails
    {"events": [{"event": "user", "parse_data": {"entities": [{"entity": "amount"}]}}]},  # an entity without value
    {"events": [1]},
    {"events": [{"event": "slot", "value": 1}], "responses": []},  # a slot without its name
    {"events": [{"event": "user", "text": 5}]},  # text must be a string
    {"events": "not a list"},
    {"responses": ["not an object"]},
    [],
]

CHECK = """
import json, sys
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

def verdicts(answers):
    action = RemoteAction("action_x", None)
    out = []
    for answer in answers:
        try:
            out.append(action._validate_action_result(answer))
        except ValidationError as error:
            out.append(error.message)
    return out

answers = json.loads(sys.argv[1])
rasas = verdicts(answers)
from rasa_server.action_results import check_action_answers_by_event_name
check_action_answers_by_event_name()
import jsonschema
slow_checks = []  # answers that went through jsonschema.validate, Rasa's own check: the failing ones only
rasas_validate = jsonschema.validate
jsonschema.validate = lambda instance, schema, *args, **kwargs: (
    slow_checks.append(instance), rasas_validate(instance, schema, *args, **kwargs))
dispatched = RemoteAction._validate_action_result.answers_checked_by == "by_event_name"
print(json.dumps({"rasa": rasas, "ours": verdicts(answers), "slow": slow_checks, "dispatched": dispatched}))
"""


def test_answers_are_judged_and_explained_as_rasa_does() -> None:
    run = subprocess.run([str(RASA_BIN.with_name("python")), "-c", CHECK, json.dumps(ANSWERS)], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    verdicts = json.loads(run.stdout.splitlines()[-1])
    assert verdicts["dispatched"]  # each event checked against the schema its name picks, not all 23
    assert verdicts["ours"] == verdicts["rasa"]
    assert verdicts["slow"] == ANSWERS[GOOD:]  # the good answers never paid for Rasa's check
    assert verdicts["rasa"][:GOOD] == [True] * GOOD
    assert all(isinstance(verdict, str) and "Failed to validate Action server response" in verdict
               for verdict in verdicts["rasa"][GOOD:])
