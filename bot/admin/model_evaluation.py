"""Is a new model at least as good as the live one? Both are scored on the same utterances and stories, and the
new one may not be worse by more than a margin on macro-F1, any intent's F1 or the test stories.

The utterances: the fixed held-out files (never trained on; written apart from the training data) plus the
examples admins labelled since the older of the two models was trained — what the admins taught the model must
still be understood. The stories: Rasa's test stories (`rasa test core`).
"""
from __future__ import annotations

import hashlib
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.admin.nlu_scores import Example, Report, evaluate, load_examples
from bot.admin.training_data import TrainingData
from bot.common.settings import PROJECT_ROOT
from bot.ledger.models import AdminChange

HELDOUT_FILES = (PROJECT_ROOT / "tests" / "nlu" / "heldout.yml", PROJECT_ROOT / "tests" / "nlu" / "heldout_hard.yml")
TEST_STORIES = PROJECT_ROOT / "tests" / "rasa" / "test_stories.yml"
EXAMPLE_KIND = "nlu_example"  # bot.admin.tuning.EXAMPLE (tuning imports this module's callers, not the reverse)


def heldout_examples(files: Iterable[Path] = HELDOUT_FILES) -> list[Example]:
    return [example for path in files for example in load_examples(path)]


def labelled_since(session: Session, data: TrainingData, since: datetime) -> list[Example]:
    """Examples admins added or relabelled after `since` that are still in the training data (undone ones are not)."""
    changes = session.scalars(select(AdminChange).where(AdminChange.kind == EXAMPLE_KIND, AdminChange.at > since)
                              .order_by(AdminChange.id))
    found: dict[str, Example] = {}
    for change in changes:
        after = change.after
        if not after:
            continue
        current = data.find(change.target)
        if current is not None:
            found[current.id] = Example(current.text, current.intent)
    return list(found.values())


@dataclass(frozen=True)
class Stories:
    passed: int
    total: int

    @property
    def accuracy(self) -> float:
        return round(self.passed / self.total, 4) if self.total else 1.0


def stories_hash(path: Path = TEST_STORIES) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def run_test_stories(rasa_command: str, model: Path, stories: Path = TEST_STORIES) -> Stories:
    """`rasa test core` on the model: how many test stories it plays through without a wrong prediction."""
    total = len((yaml.safe_load(stories.read_text(encoding="utf-8")) or {}).get("stories") or [])
    with tempfile.TemporaryDirectory(prefix="acuerdo-stories-") as out:
        result = subprocess.run([*shlex.split(rasa_command), "test", "core", "--model", str(model), "--stories",
                                 str(stories), "--out", out], cwd=PROJECT_ROOT, capture_output=True, text=True,
                                timeout=1800, env=_rasa_env())
        if result.returncode != 0:
            raise RuntimeError(f"rasa test core failed: {(result.stdout + result.stderr)[-3000:]}")
        failed_file = Path(out) / "failed_test_stories.yml"
        failed = yaml.safe_load(failed_file.read_text(encoding="utf-8")) if failed_file.exists() else None
    return Stories(total - len((failed or {}).get("stories") or []), total)


def _rasa_env() -> dict[str, str]:
    import os

    return {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}


def predict_all(texts: Iterable[str], known: Mapping[str, str], parse: Callable[[str], str]) -> dict[str, str]:
    """Each text's predicted intent, asking the server only for those not predicted before for this model."""
    return {text: known[text] if text in known else parse(text) for text in dict.fromkeys(texts)}


@dataclass(frozen=True)
class Scores:
    macro_f1: float  # on the held-out files
    accuracy: float
    per_intent: dict[str, float]
    stories: dict[str, float]  # passed, total, accuracy
    labelled: dict[str, float]  # correct, total, accuracy on the examples admins labelled since the older model
    confusions: list[dict[str, object]]

    @classmethod
    def of(cls, heldout: Report, labelled: Report, labelled_total: int, stories: Stories) -> Scores:
        correct = round(labelled.accuracy * labelled_total)
        return cls(heldout.macro_f1, heldout.accuracy, {intent: s.f1 for intent, s in heldout.per_intent.items()},
                   {"passed": stories.passed, "total": stories.total, "accuracy": stories.accuracy},
                   {"correct": correct, "total": labelled_total,
                    "accuracy": labelled.accuracy if labelled_total else 1.0},
                   heldout.confusions[:8])


@dataclass(frozen=True)
class Margins:
    overall: float  # macro-F1, story accuracy, accuracy on the admins' examples
    intent: float  # one intent's F1: a few utterances move it, so it gets more room


@dataclass(frozen=True)
class Regression:
    metric: str  # "macro_f1", "stories", "labelled", or "intent:<name>"
    live: float
    candidate: float


def regressions(candidate: Scores, live: Scores, margins: Margins) -> list[Regression]:
    """Every score where the candidate is worse than the live model by more than its margin."""
    pairs = [("macro_f1", live.macro_f1, candidate.macro_f1, margins.overall),
             ("stories", live.stories["accuracy"], candidate.stories["accuracy"], margins.overall),
             ("labelled", live.labelled["accuracy"], candidate.labelled["accuracy"], margins.overall)]
    pairs += [(f"intent:{intent}", f1, candidate.per_intent.get(intent, 0.0), margins.intent)
              for intent, f1 in sorted(live.per_intent.items())]
    return [Regression(metric, live_score, new_score) for metric, live_score, new_score, margin in pairs
            if new_score < live_score - margin - 1e-9]


@dataclass(frozen=True)
class Evaluation:
    candidate: str
    live: str
    margins: Margins
    heldout_count: int
    labelled_count: int
    candidate_scores: Scores
    live_scores: Scores
    regressions: list[Regression]

    @property
    def passes(self) -> bool:
        return not self.regressions

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passes": self.passes}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evaluation:
        return cls(data["candidate"], data["live"], Margins(**data["margins"]), data["heldout_count"],
                   data["labelled_count"], Scores(**data["candidate_scores"]), Scores(**data["live_scores"]),
                   [Regression(**item) for item in data["regressions"]])


def compare(candidate: str, live: str, heldout: list[Example], labelled: list[Example],
            predictions: Mapping[str, Mapping[str, str]], stories: Mapping[str, Stories],
            margins: Margins) -> Evaluation:
    """Both models scored on the same examples (their predictions given) and stories; the gate's verdict."""
    def scores(model: str) -> Scores:
        predicted = predictions[model]
        return Scores.of(evaluate(heldout, predicted.__getitem__), evaluate(labelled, predicted.__getitem__),
                         len(labelled), stories[model])

    candidate_scores, live_scores = scores(candidate), scores(live)
    return Evaluation(candidate, live, margins, len(heldout), len(labelled), candidate_scores, live_scores,
                      regressions(candidate_scores, live_scores, margins))
