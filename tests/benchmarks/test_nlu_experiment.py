"""The pure parts of the NLU experiment harness: report parsing, pipeline summary, the table, the results log.

Training and serving are not exercised here (they take minutes): `make nlu-experiment` is their check.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import yaml

from benchmarks import nlu_experiment
from benchmarks.nlu_experiment import (
    README_HEADER,
    Run,
    Scores,
    append_to_readme,
    markdown_table,
    pipeline_summary,
    scores_from_intent_report,
    snapshot,
    untrained_intents,
)
from bot.admin.nlu_scores import Example, evaluate
from bot.common.settings import PROJECT_ROOT


def entry(f1: float, support: int) -> dict[str, object]:
    return {"precision": f1, "recall": f1, "f1-score": f1, "support": support, "confused_with": {}}


# The shape of Rasa 3.6's intent_report.json: per-label entries, sklearn's averages, and a label only predicted.
INTENT_REPORT = {
    "greet": entry(1.0, 10),
    "deny": entry(0.5, 10),
    "affirm": entry(0.75, 20),
    "nlu_fallback": entry(0.0, 0),
    "accuracy": 0.8,
    "macro avg": entry(0.5625, 40),
    "weighted avg": entry(0.75, 40),
}


def test_intent_report_macro_f1_counts_only_intents_with_test_examples() -> None:
    scores = scores_from_intent_report(INTENT_REPORT)
    assert scores.macro_f1 == 0.75  # (1.0 + 0.5 + 0.75) / 3: not sklearn's 0.5625, which counts nlu_fallback
    assert scores.accuracy == 0.8
    assert scores.f1_by_intent == {"greet": 1.0, "deny": 0.5, "affirm": 0.75}


def test_intent_report_without_accuracy_falls_back_to_micro_average() -> None:
    report = {"greet": entry(1.0, 3), "micro avg": entry(0.9, 3)}
    assert scores_from_intent_report(report).accuracy == 0.9


def test_intent_report_with_no_test_examples_is_an_error() -> None:
    with pytest.raises(ValueError):
        scores_from_intent_report({"nlu_fallback": entry(0.0, 0), "accuracy": 0.0})


def test_intent_report_and_nlu_eval_agree_on_the_same_predictions() -> None:
    """The CV column and the held-out columns must mean the same macro-F1."""
    examples = [Example("a", "greet"), Example("b", "greet"), Example("c", "deny"), Example("d", "deny")]
    predicted = {"a": "greet", "b": "nlu_fallback", "c": "deny", "d": "greet"}
    report = evaluate(examples, predicted.__getitem__)
    rasa_like = {intent: entry(score.f1, score.support) for intent, score in report.per_intent.items()}
    rasa_like["nlu_fallback"] = entry(0.0, 0)
    rasa_like["accuracy"] = 0.5  # type: ignore[assignment]
    assert scores_from_intent_report(rasa_like).macro_f1 == pytest.approx(report.macro_f1, abs=1e-4)


def test_weakest_intents_lowest_first_ties_by_name() -> None:
    scores = Scores(0.7, 0.7, {"b": 0.5, "a": 0.5, "c": 0.9, "d": 0.1})
    assert scores.weakest(3) == [("d", 0.1), ("a", 0.5), ("b", 0.5)]


def test_pipeline_summary_of_the_project_config() -> None:
    config = yaml.safe_load((PROJECT_ROOT / "config.yml").read_text(encoding="utf-8"))
    summary = pipeline_summary(config)
    components, *rest = summary.split("; ")
    assert components.split(" → ")[0] == "WhitespaceTokenizer"
    assert components.split(" → ")[-1] == "FallbackClassifier"
    diet = next(c for c in config["pipeline"] if c["name"] == "DIETClassifier")
    fallback = next(c for c in config["pipeline"] if c["name"] == "FallbackClassifier")
    assert f"DIETClassifier {diet['epochs']} epochs" in rest
    assert rest[-1].startswith(f"fallback {fallback['threshold']} ")


def test_pipeline_summary_shows_defaults_and_char_ngrams() -> None:
    config = {"pipeline": [{"name": "WhitespaceTokenizer"},
                           {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4},
                           {"name": "DIETClassifier"}, {"name": "FallbackClassifier"}]}
    assert pipeline_summary(config) == (
        "WhitespaceTokenizer → CountVectorsFeaturizer(char_wb 1-4) → DIETClassifier → FallbackClassifier; "
        "DIETClassifier 300 epochs; fallback 0.3 (ambiguity 0.1)")
    assert pipeline_summary({"pipeline": [{"name": "KeywordIntentClassifier"}]}) == (
        "KeywordIntentClassifier; no FallbackClassifier")
    assert pipeline_summary({"recipe": "default.v1"}).startswith("Rasa's default pipeline")


def run(cv: Scores | None = None) -> Run:
    hard = Scores(0.9123, 0.905, {"greet": 1.0, "deny": 0.61, "affirm": 0.8, "inform": 0.8, "goodbye": 0.95,
                                  "out_of_scope": 0.5})
    return Run(config="experiments/a|b.yml", pipeline="WhitespaceTokenizer → DIETClassifier",
               training_seconds=183.4, heldout=Scores(0.96349, 0.96, {}), hard=hard, cv=cv, folds=5 if cv else 0)


def test_markdown_table_is_one_header_and_one_row_of_the_numbers() -> None:
    lines = markdown_table(run()).splitlines()
    assert len(lines) == 3
    header, rule, row = ([cell.strip() for cell in line.strip("|").split(" | ")] for line in lines)
    assert len(header) == len(row) == 9
    cells = dict(zip(header, row, strict=True))
    assert cells["config"] == "experiments/a\\|b.yml"  # an escaped pipe keeps the row's columns
    assert cells["train s"] == "183"
    assert cells["CV macro-F1"] == "—"
    assert cells["held-out macro-F1"] == "0.963" and cells["held-out acc"] == "0.960"
    assert cells["hard macro-F1"] == "0.912" and cells["hard acc"] == "0.905"
    assert cells["5 weakest on hard (F1)"] == "out_of_scope 0.50, deny 0.61, affirm 0.80, inform 0.80, goodbye 0.95"


def test_markdown_table_with_cross_validation() -> None:
    row = markdown_table(run(cv=Scores(0.8814, 0.89, {}))).splitlines()[2]
    assert "| 0.881 (5 folds) |" in row


def test_results_readme_is_created_once_then_appended(tmp_path: Path) -> None:
    readme = tmp_path / "experiments" / "README.md"
    append_to_readme(readme, "| a |\n|---|\n| 1 |\n", datetime(2025, 1, 2, 3, 4), "abc1234", cpus=2)
    append_to_readme(readme, "| a |\n|---|\n| 2 |\n", datetime(2025, 1, 3, 5, 6), "def5678+dirty")
    text = readme.read_text(encoding="utf-8")
    assert text.startswith(README_HEADER.splitlines()[0]) and text.count(README_HEADER.splitlines()[0]) == 1
    assert "### 2025-01-02 03:04 · abc1234 · 2 CPUs\n\n| a |\n|---|\n| 1 |\n" in text
    assert text.endswith("### 2025-01-03 05:06 · def5678+dirty\n\n| a |\n|---|\n| 2 |\n")
    assert text.index("| 1 |") < text.index("| 2 |")


def test_untrained_intents_are_the_held_out_intents_without_training_examples() -> None:
    training = [Example("hola", "greet"), Example("no", "deny")]
    heldout = [Example("buenas", "greet"), Example("a qué hora abren", "ask_hours"), Example("préstamo", "ask_loan")]
    assert untrained_intents(training, heldout) == ["ask_hours", "ask_loan"]
    assert untrained_intents(training, heldout[:1]) == []


def test_snapshot_is_not_changed_by_later_edits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = tmp_path / "project"
    (sources / "nlu").mkdir(parents=True)
    files = {sources / "nlu" / "a.yml": "nlu: []\n", sources / "heldout.yml": "h1\n",
             sources / "heldout_hard.yml": "h2\n", sources / "my-config.yml": "pipeline: []\n"}
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(nlu_experiment, "NLU_DATA", sources / "nlu")
    monkeypatch.setattr(nlu_experiment, "HELDOUT", sources / "heldout.yml")
    monkeypatch.setattr(nlu_experiment, "HELDOUT_HARD", sources / "heldout_hard.yml")
    inputs = snapshot(sources / "my-config.yml", tmp_path / "work")
    for path in files:
        path.write_text("edited meanwhile\n", encoding="utf-8")
    assert [(inputs.nlu / "a.yml").read_text(), inputs.heldout.read_text(), inputs.hard.read_text(),
            inputs.config.read_text()] == ["nlu: []\n", "h1\n", "h2\n", "pipeline: []\n"]
    assert inputs.heldout != inputs.hard and inputs.config.name == "config.yml"
