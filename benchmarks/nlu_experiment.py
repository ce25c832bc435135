"""NLU experiments: `make nlu-experiment CONFIG=path/to/config.yml [FOLDS=5]`.

Trains an NLU-only model from CONFIG and data/nlu into a temporary directory (models/, models/ACTIVE and the
project's .rasa cache are never touched), scores it on both held-out sets with the evaluation the suite and
`make bench` use (bot/admin/nlu_scores: an utterance the FallbackClassifier sends to nlu_fallback is wrong) and,
with --folds N, runs Rasa's N-fold cross-validation on data/nlu. Prints one markdown table and appends it to
benchmarks/experiments/README.md, so that pipelines can be compared run after run.

The config, data/nlu and the held-out sets are copied when the run starts and only the copies are read: a
training takes minutes, and an edit of the data meanwhile must not score one version's model on another's sets.

Usage: python -m benchmarks.nlu_experiment --config CONFIG [--folds N] [--out benchmarks/experiments]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from benchmarks.nlu import HELDOUT, HELDOUT_HARD
from bot.admin.nlu_scores import Example, Report, evaluate, load_examples
from bot.admin.rasa_model import RASA_BIN
from bot.common.settings import PROJECT_ROOT
from scripts import servers
from scripts.services import free_port

NLU_DATA = PROJECT_ROOT / "data" / "nlu"
RESULTS = PROJECT_ROOT / "benchmarks" / "experiments"  # committed: the log of every pipeline tried
MODEL_NAME = "nlu-experiment"
WEAKEST = 5
# Rasa 3.6's defaults, shown when a config leaves them out (rasa/nlu/classifiers/diet_classifier.py,
# rasa/nlu/selectors/response_selector.py, rasa/core/constants.py).
DEFAULT_EPOCHS = {"DIETClassifier": 300, "ResponseSelector": 300}
DEFAULT_FALLBACK_THRESHOLD = 0.3
DEFAULT_AMBIGUITY_THRESHOLD = 0.1
README_HEADER = """# NLU experiments

Each table below is one run of `make nlu-experiment CONFIG=path/to/config.yml [FOLDS=N]`
(benchmarks/nlu_experiment.py): an NLU-only model is trained from that config and data/nlu into a temporary
directory (the active model is never touched), then scored on tests/nlu/heldout.yml and on the hard set
tests/nlu/heldout_hard.yml with the evaluation of the test suite and `make bench` (an utterance sent to
nlu_fallback counts as wrong). The held-out sets are never trained on: tests/nlu/test_heldout.py fails if one
of their utterances appears in data/nlu. With FOLDS=N the table also gives Rasa's N-fold cross-validation
macro-F1 on data/nlu (test folds; `rasa test` reverts fallback predictions, so it scores the classifier before
the fallback threshold). Each heading gives the date, the commit ("+dirty": data/nlu or the config differed
from it) and the CPU count; training seconds are the wall time of `rasa train nlu` with an empty Rasa cache.
Every run reads copies of the config, data/nlu and the held-out sets taken when it started.
"""


@dataclass(frozen=True)
class Scores:
    """Intent scores of one evaluation, whichever tool produced them."""

    macro_f1: float
    accuracy: float
    f1_by_intent: dict[str, float]

    @classmethod
    def from_report(cls, report: Report) -> Scores:
        """The held-out columns, from bot/admin/nlu_scores's report."""
        return cls(report.macro_f1, report.accuracy, {intent: s.f1 for intent, s in report.per_intent.items()})

    def weakest(self, count: int = WEAKEST) -> list[tuple[str, float]]:
        """The intents to work on next: lowest F1 first, ties by name so runs compare line by line."""
        return sorted(self.f1_by_intent.items(), key=lambda item: (item[1], item[0]))[:count]


@dataclass(frozen=True)
class Run:
    """What one experiment measured: the row of its table."""

    config: str
    pipeline: str
    training_seconds: float
    heldout: Scores
    hard: Scores
    cv: Scores | None = None
    folds: int = 0


@dataclass(frozen=True)
class Inputs:
    """The run's own copies of what it reads."""

    config: Path
    nlu: Path
    heldout: Path
    hard: Path


def snapshot(config: Path, work: Path) -> Inputs:
    """Copy the config, data/nlu and both held-out sets into `work`, so the run reads one version of each."""
    inputs = work / "inputs"
    inputs.mkdir(parents=True)
    shutil.copytree(NLU_DATA, inputs / "nlu")
    for path in (config, HELDOUT, HELDOUT_HARD):
        shutil.copy2(path, inputs / ("config.yml" if path == config else path.name))
    return Inputs(inputs / "config.yml", inputs / "nlu", inputs / HELDOUT.name, inputs / HELDOUT_HARD.name)


def untrained_intents(training: Iterable[Example], heldout: Iterable[Example]) -> list[str]:
    """Held-out intents the training data lacks: a half-finished edit, which would score 0 and mean nothing."""
    return sorted({example.intent for example in heldout} - {example.intent for example in training})


def check_inputs(inputs: Inputs) -> None:
    """Refuse a snapshot caught mid-edit before minutes of training, rather than report a meaningless score."""
    try:
        training = [example for path in sorted(inputs.nlu.glob("*.yml")) for example in load_examples(path)]
        heldout_sets = {path.name: load_examples(path) for path in (inputs.heldout, inputs.hard)}
    except yaml.YAMLError as error:
        raise SystemExit(f"unreadable NLU data (being edited? retry in a minute): {error}") from error
    for name, heldout in heldout_sets.items():
        missing = untrained_intents(training, heldout)
        if missing:
            raise SystemExit(f"{name} has intents data/nlu has no example of: {', '.join(missing)} "
                             "(data being edited? retry when it is consistent)")


def scores_from_intent_report(report: Mapping[str, Any]) -> Scores:
    """Rasa's intent_report.json → Scores, with macro-F1 over the intents the test data has (support > 0), as
    bot/admin/nlu_scores computes it: a label that is only ever predicted (nlu_fallback) never enters the average."""
    per_intent = {label: float(entry["f1-score"]) for label, entry in report.items()
                  if isinstance(entry, Mapping) and "f1-score" in entry and not label.endswith(" avg")
                  and int(entry.get("support", 0)) > 0}
    if not per_intent:
        raise ValueError("the intent report has no intent with test examples")
    if "accuracy" in report:
        accuracy = float(report["accuracy"])
    else:  # sklearn writes "micro avg" instead of "accuracy" when some labels are missing from the predictions
        accuracy = float(report["micro avg"]["f1-score"])
    macro = sum(per_intent.values()) / len(per_intent)
    return Scores(round(macro, 4), round(accuracy, 4), {k: round(v, 4) for k, v in per_intent.items()})


def pipeline_summary(config: Mapping[str, Any]) -> str:
    """One line naming what an experiment varies: components, classifier epochs, fallback thresholds."""
    pipeline = config.get("pipeline") or []
    if not pipeline:
        return "Rasa's default pipeline (none given)"
    names: list[str] = []
    epochs: list[str] = []
    fallback = "no FallbackClassifier"
    for component in pipeline:
        name = str(component["name"])
        if name == "CountVectorsFeaturizer" and component.get("analyzer", "word") != "word":
            names.append(f"{name}({component['analyzer']} {component.get('min_ngram', 1)}-"
                         f"{component.get('max_ngram', 1)})")
        else:
            names.append(name)
        if "epochs" in component or name in DEFAULT_EPOCHS:
            epochs.append(f"{name} {component.get('epochs', DEFAULT_EPOCHS.get(name))} epochs")
        if name == "FallbackClassifier":
            fallback = (f"fallback {component.get('threshold', DEFAULT_FALLBACK_THRESHOLD)} "
                        f"(ambiguity {component.get('ambiguity_threshold', DEFAULT_AMBIGUITY_THRESHOLD)})")
    return "; ".join([" → ".join(names), *epochs, fallback])


def _cell(text: str) -> str:
    """A pipe in a cell would split the markdown row."""
    return text.replace("|", "\\|")


def markdown_table(run: Run) -> str:
    """The one table a run prints and appends: a header row and one row of numbers."""
    cv = f"{run.cv.macro_f1:.3f} ({run.folds} folds)" if run.cv is not None else "—"
    weakest = ", ".join(f"{intent} {f1:.2f}" for intent, f1 in run.hard.weakest())
    columns = [
        ("config", run.config), ("pipeline", run.pipeline), ("train s", f"{run.training_seconds:.0f}"),
        ("CV macro-F1", cv),
        ("held-out macro-F1", f"{run.heldout.macro_f1:.3f}"), ("held-out acc", f"{run.heldout.accuracy:.3f}"),
        ("hard macro-F1", f"{run.hard.macro_f1:.3f}"), ("hard acc", f"{run.hard.accuracy:.3f}"),
        (f"{WEAKEST} weakest on hard (F1)", weakest),
    ]
    header = "| " + " | ".join(name for name, _ in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    row = "| " + " | ".join(_cell(value) for _, value in columns) + " |"
    return "\n".join([header, rule, row]) + "\n"


def append_to_readme(path: Path, table: str, when: datetime, commit: str, cpus: int | None = None) -> None:
    """Append a run under a dated heading, keeping every earlier run; the header is written once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_text(encoding="utf-8") if path.exists() else README_HEADER
    heading = f"### {when:%Y-%m-%d %H:%M} · {commit}" + (f" · {cpus} CPUs" if cpus else "")
    section = f"{heading}\n\n{table}"
    path.write_text(existing.rstrip("\n") + "\n\n" + section, encoding="utf-8")


def git_commit(config: Path, root: Path = PROJECT_ROOT) -> str:
    """Short hash of HEAD, "+dirty" when the trained inputs (data/nlu, the config) differ from it."""
    inputs = [str(NLU_DATA)] + ([str(config)] if config.is_relative_to(root) else [])  # git refuses outside paths
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--", *inputs], cwd=root,
                                 capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "no git commit"
    return f"{commit}+dirty" if changed else commit


def display_path(path: Path, root: Path = PROJECT_ROOT) -> str:
    """Paths inside the project as the Makefile spells them; others in full."""
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _rasa_env(work: Path) -> dict[str, str]:
    """Telemetry off, and a cache of the run's own: a fair training time, and the project's cache intact."""
    return {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "RASA_CACHE_DIRECTORY": str(work / "cache"),
            "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def _rasa(args: Sequence[str], log: Path, env: dict[str, str]) -> None:
    """Run the Rasa CLI with its noise in `log`; on failure show the log's end, which names the bad file."""
    with log.open("ab") as output:
        result = subprocess.run([str(RASA_BIN), *args], cwd=PROJECT_ROOT, env=env, stdout=output,
                                stderr=subprocess.STDOUT)
    if result.returncode != 0:
        print(_tail(log), file=sys.stderr)
        raise SystemExit(f"`rasa {' '.join(args[:2])}` failed (exit {result.returncode}); log above")


def train(inputs: Inputs, work: Path) -> tuple[Path, float]:
    """Train an NLU-only model into `work`; returns it and the wall time of `rasa train nlu`."""
    started = time.monotonic()
    _rasa(["train", "nlu", "--config", str(inputs.config), "--nlu", str(inputs.nlu), "--out", str(work),
           "--fixed-model-name", MODEL_NAME], work / "train.log", _rasa_env(work))
    return work / f"{MODEL_NAME}.tar.gz", time.monotonic() - started


def score_heldout(model: Path, inputs: Inputs, work: Path) -> tuple[Scores, Scores]:
    """Both held-out sets through /model/parse of a Rasa server on `model`, as tests/nlu and `make bench` do
    (`rasa test nlu` reverts fallback predictions, so its numbers would not be comparable with theirs)."""
    token = "nlu-experiment"
    port = free_port()
    endpoints = work / "endpoints.yml"  # no action is ever run: parsing needs none
    endpoints.write_text(servers.endpoints_yaml(f"http://127.0.0.1:{free_port()}", None), encoding="utf-8")
    log = work / "rasa-run.log"
    process = servers.start_rasa(model, port, endpoints, token, _rasa_env(work), log)
    running = servers.Servers(rasa_url=f"http://127.0.0.1:{port}", action_url="", token=token,
                              processes=[process], logs=[log])
    try:
        try:
            servers._wait_until(f"{running.rasa_url}/status?token={token}", process, timeout=240)
        except (RuntimeError, TimeoutError):
            print(running.tail_logs(), file=sys.stderr)
            raise
        with httpx.Client(base_url=running.rasa_url, params={"token": token}, timeout=30) as client:
            def predict(text: str) -> str:
                response = client.post("/model/parse", json={"text": text})
                response.raise_for_status()
                return str(response.json()["intent"]["name"])

            heldout = evaluate(load_examples(inputs.heldout), predict)
            hard = evaluate(load_examples(inputs.hard), predict)
    finally:
        running.stop()
    return Scores.from_report(heldout), Scores.from_report(hard)


def cross_validate(inputs: Inputs, folds: int, work: Path) -> Scores:
    """Rasa's N-fold cross-validation on data/nlu (N trainings): the accumulated test folds' report."""
    out = work / "cv"
    _rasa(["test", "nlu", "--nlu", str(inputs.nlu), "--config", str(inputs.config), "--cross-validation",
           "--folds", str(folds), "--out", str(out), "--no-plot"], work / "cv.log", _rasa_env(work))
    return scores_from_intent_report(json.loads((out / "intent_report.json").read_text(encoding="utf-8")))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nlu_experiment", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True, help="Rasa config whose pipeline is tried")
    parser.add_argument("--folds", type=int, default=0,
                        help="cross-validation folds (>= 2; 0 skips it: it trains N more models)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where README.md collects the runs")
    args = parser.parse_args(argv)
    if args.folds == 1 or args.folds < 0:
        parser.error("--folds must be 0 (no cross-validation) or at least 2")
    if not args.config.is_file():
        parser.error(f"no config file {args.config}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = args.config.resolve()
    started, commit = datetime.now(), git_commit(config)
    with tempfile.TemporaryDirectory(prefix="nlu-experiment-") as tmp:
        work = Path(tmp)
        inputs = snapshot(config, work)
        check_inputs(inputs)
        summary = pipeline_summary(yaml.safe_load(inputs.config.read_text(encoding="utf-8")) or {})
        print(f"training an NLU model from {display_path(config)} (a few minutes)…", file=sys.stderr)
        model, seconds = train(inputs, work)
        print(f"trained in {seconds:.0f} s; scoring the held-out sets…", file=sys.stderr)
        heldout, hard = score_heldout(model, inputs, work)
        cv = None
        if args.folds:
            print(f"cross-validating ({args.folds} trainings)…", file=sys.stderr)
            cv = cross_validate(inputs, args.folds, work)
    run = Run(config=display_path(config), pipeline=summary, training_seconds=seconds, heldout=heldout,
              hard=hard, cv=cv, folds=args.folds)
    table = markdown_table(run)
    print(table)
    readme = args.out / "README.md"
    append_to_readme(readme, table, started, commit, os.cpu_count())
    print(f"appended to {display_path(readme.resolve())}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
