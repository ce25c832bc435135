"""Intent accuracy on utterances the model never saw (tests/nlu/heldout.yml), through the real Rasa server."""
from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

from bot.admin.nlu_scores import evaluate, load_examples, normalise
from bot.common.settings import PROJECT_ROOT
from bot.messaging.gateway import GATEWAY_INTENTS
from scripts import servers

HELDOUT = Path(__file__).with_name("heldout.yml")
# Written by other hands, without seeing data/nlu or the set above: long, story-wrapped, misspelled, regional.
HELDOUT_HARD = Path(__file__).with_name("heldout_hard.yml")
REPORT = PROJECT_ROOT / "results" / "nlu_heldout.txt"
REPORT_HARD = PROJECT_ROOT / "results" / "nlu_heldout_hard.txt"
HARD_FLOOR = 0.90  # 0.82 when the set was written; 0.91, then 0.947 with 32 intents and long data (issue 17)
# Intents the model classifies: the gateway's own ("/cancel_request") are never read from text.
DOMAIN_INTENTS = set(yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())["intents"]) - GATEWAY_INTENTS


def training_examples() -> list:
    return [example for path in sorted((PROJECT_ROOT / "data" / "nlu").glob("*.yml"))
            for example in load_examples(path)]


@pytest.mark.parametrize("path", [HELDOUT, HELDOUT_HARD], ids=["heldout", "hard"])
def test_heldout_covers_every_intent_and_was_never_trained_on(path: Path) -> None:
    heldout = load_examples(path)
    counts = {intent: sum(1 for e in heldout if e.intent == intent) for intent in DOMAIN_INTENTS}
    assert min(counts.values()) >= 10, counts
    trained = {normalise(example.text) for example in training_examples()}
    leaked = [example.text for example in heldout if normalise(example.text) in trained]
    assert leaked == []


def test_training_data_has_thirty_examples_per_intent() -> None:
    examples = training_examples()
    counts = {intent: sum(1 for e in examples if e.intent == intent) for intent in DOMAIN_INTENTS}
    assert min(counts.values()) >= 30, {intent: n for intent, n in counts.items() if n < 30}


@pytest.mark.e2e
@pytest.mark.parametrize(("path", "report_path", "floor"), [(HELDOUT, REPORT, 0.95),
                                                           (HELDOUT_HARD, REPORT_HARD, HARD_FLOOR)],
                         ids=["heldout", "hard"])
def test_heldout_macro_f1(bot_servers: servers.Servers, path: Path, report_path: Path, floor: float) -> None:
    with httpx.Client(base_url=bot_servers.rasa_url, params={"token": bot_servers.token}, timeout=30) as client:
        def predict(text: str) -> str:
            response = client.post("/model/parse", json={"text": text})
            response.raise_for_status()
            return str(response.json()["intent"]["name"])

        report = evaluate(load_examples(path), predict)
    report.write(report_path)
    print(report.to_text())
    assert report.macro_f1 >= floor, report.to_text()
