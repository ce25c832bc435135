"""Intent evaluation on a Rasa NLU file: accuracy, macro-F1, per-intent scores and confusion pairs.

Used by the held-out test (tests/nlu) and by `make bench`. The prediction is what the bot acts on,
after the FallbackClassifier: an utterance sent to nlu_fallback counts as wrong.
"""
from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


@dataclass(frozen=True)
class Example:
    text: str
    intent: str


@dataclass
class IntentScore:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class Report:
    accuracy: float
    macro_f1: float
    per_intent: dict[str, IntentScore]
    confusions: list[dict[str, object]] = field(default_factory=list)

    def to_text(self) -> str:
        lines = [f"accuracy {self.accuracy:.3f}   macro-F1 {self.macro_f1:.3f}", "",
                 f"{'intent':<22}{'precision':>10}{'recall':>8}{'f1':>8}{'n':>5}"]
        for intent, score in sorted(self.per_intent.items()):
            lines.append(f"{intent:<22}{score.precision:>10.3f}{score.recall:>8.3f}{score.f1:>8.3f}{score.support:>5}")
        lines += ["", "confusions (expected -> predicted: count, examples)"]
        for pair in self.confusions:
            lines.append(f"  {pair['expected']} -> {pair['predicted']}: {pair['count']}  {pair['examples']}")
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_text(), encoding="utf-8")
        path.with_suffix(".json").write_text(json.dumps(asdict(self), ensure_ascii=False, indent=2),
                                             encoding="utf-8")


def plain_text(example: str) -> str:
    """'te pago el [viernes](date)' → 'te pago el viernes'."""
    return _ANNOTATION.sub(r"\1", example).strip()


def load_examples(path: Path) -> list[Example]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    examples = []
    for block in data.get("nlu", []):
        if "intent" not in block:
            continue
        for line in str(block.get("examples", "")).splitlines():
            line = line.strip()
            if line.startswith("- "):
                examples.append(Example(plain_text(line[2:]), block["intent"]))
    return examples


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def evaluate(examples: Iterable[Example], predict: Callable[[str], str]) -> Report:
    pairs = [(example, predict(example.text)) for example in examples]
    intents = sorted({example.intent for example, _ in pairs})
    true_positive: Counter[str] = Counter()
    predicted_count: Counter[str] = Counter()
    support: Counter[str] = Counter()
    confused: dict[tuple[str, str], list[str]] = defaultdict(list)
    for example, predicted in pairs:
        support[example.intent] += 1
        predicted_count[predicted] += 1
        if predicted == example.intent:
            true_positive[example.intent] += 1
        else:
            confused[(example.intent, predicted)].append(example.text)
    per_intent = {}
    for intent in intents:
        precision = true_positive[intent] / predicted_count[intent] if predicted_count[intent] else 0.0
        recall = true_positive[intent] / support[intent] if support[intent] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_intent[intent] = IntentScore(round(precision, 4), round(recall, 4), round(f1, 4), support[intent])
    total = sum(support.values())
    confusions = [{"expected": expected, "predicted": predicted, "count": len(texts), "examples": texts[:5]}
                  for (expected, predicted), texts in sorted(confused.items(), key=lambda item: -len(item[1]))]
    return Report(
        accuracy=round(sum(true_positive.values()) / total, 4) if total else 0.0,
        macro_f1=round(sum(score.f1 for score in per_intent.values()) / len(per_intent), 4) if per_intent else 0.0,
        per_intent=per_intent,
        confusions=confusions,
    )
