"""The Rasa project itself, checked with Rasa's own tools: `rasa data validate` and `rasa test core`."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.admin.rasa_model import RASA_BIN, active_model, model_path
from bot.common.settings import PROJECT_ROOT
from bot.messaging.gateway import GATEWAY_INTENTS

ENV = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
UNUSED_UTTERANCE = re.compile(r"UserWarning: The utterance '(utter_\w+)' is not used in any story or rule\.")
UNTRAINED_INTENT = re.compile(r"UserWarning: The intent '(\w+)' is listed in the domain file, but is not found")


def run_rasa(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RASA_BIN), *args], cwd=PROJECT_ROOT, env=ENV, capture_output=True, text=True,
                          timeout=900)


def test_data_validate_is_clean() -> None:
    result = run_rasa("data", "validate")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    warnings = [line for line in output.splitlines() if "UserWarning" in line]
    # Responses sent only by custom actions are reported as unused by the validator: each must really be
    # named by an action (or by the core, which picks the response an action sends) or be a form's
    # question (utter_ask_<slot>). Intents only the gateway sends have no examples on purpose. Any other
    # warning fails the test.
    actions_source = "\n".join(path.read_text() for folder in ("actions", "bot")
                                for path in (PROJECT_ROOT / folder).rglob("*.py"))
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())
    form_questions = {f"utter_ask_{slot}" for form in domain["forms"].values() for slot in form["required_slots"]}

    def explained(line: str) -> bool:
        if (untrained := UNTRAINED_INTENT.search(line)) is not None:  # sent by the gateway, never classified
            return untrained.group(1) in GATEWAY_INTENTS
        match = UNUSED_UTTERANCE.search(line)
        return bool(match) and (match.group(1) in form_questions or f'"{match.group(1)}"' in actions_source)

    unexplained = [line for line in warnings if not explained(line)]
    assert unexplained == []


@pytest.mark.e2e  # runs the trained model through `rasa test core`
def test_dialogue_test_stories_pass(tmp_path: Path) -> None:
    model = active_model()
    if model is None or model != model_path():
        pytest.fail("the trained model for the current inputs is missing: `make model`")
    result = run_rasa("test", "core", "--model", str(model), "--stories", "tests/rasa/test_stories.yml",
                      "--out", str(tmp_path), "--fail-on-prediction-errors")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    failed = yaml.safe_load((tmp_path / "failed_test_stories.yml").read_text()) or {}
    assert not failed.get("stories"), failed


def test_admin_edits_keep_the_project_valid_for_rasa(tmp_path: Path) -> None:
    """Edits made the way the admin pages make them (an annotated example, a new intent with an example, an
    edit, a delete, a reply rewritten with a new conditioned variation) leave a project `rasa data validate`
    accepts with no new warning but the new intent's own (no rule uses it yet). Rasa only warns about most
    mistakes, so the warnings are compared too."""
    from bot.admin.replies import Replies, Variation
    from bot.admin.training_data import TrainingData

    for name in ("config.yml", "domain.yml"):
        (tmp_path / name).write_bytes((PROJECT_ROOT / name).read_bytes())
    shutil.copytree(PROJECT_ROOT / "data", tmp_path / "data")

    def warnings() -> set[str]:
        result = subprocess.run([str(RASA_BIN), "data", "validate"], cwd=tmp_path, env=ENV, capture_output=True,
                                text=True, timeout=900)
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
        return {line.split("UserWarning:", 1)[1].strip() for line in (result.stdout + result.stderr).splitlines()
                if "UserWarning:" in line}

    before = warnings()
    store = TrainingData(tmp_path / "data" / "nlu", tmp_path / "domain.yml")
    store.add("promise_to_pay", "le deposito [el jueves](date) sin falta, es que hoy no me alcanza")
    store.add_intent("ask_branch")
    store.add("ask_branch", "donde hay una sucursal para pagar en efectivo")
    first = store.examples("greet")[0]
    store.edit(first.id, first.text + " buenas")
    store.delete(store.examples("thank_you")[0].id)
    replies = Replies(tmp_path / "domain.yml")
    retry = replies.get("utter_identity_retry")
    replies.edit(retry.name, (*retry.variations, Variation('Dale, probá de nuevo: "{attempts_left}" intentos.',
                                                           (("slot", "voseo", True),))), retry.version)
    new = warnings() - before
    assert all("'ask_branch'" in warning and "not used in any story or rule" in warning for warning in new), new
