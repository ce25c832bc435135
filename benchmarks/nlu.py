"""NLU quality and speed: `make bench` (or `python -m benchmarks.nlu`).

Prints intent macro-F1 and accuracy on the held-out set (tests/nlu/heldout.yml), the training time
recorded when the active model was trained, the Rasa server's start-up time, and /model/parse latency.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bot.admin.nlu_scores import evaluate, load_examples
from bot.admin.rasa_model import active_model, model_path, training_record
from bot.common.settings import PROJECT_ROOT
from scripts import servers
from scripts.services import free_port

HELDOUT = PROJECT_ROOT / "tests" / "nlu" / "heldout.yml"
HELDOUT_HARD = PROJECT_ROOT / "tests" / "nlu" / "heldout_hard.yml"  # long, story-wrapped, other hands


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    model = active_model()
    if model is None or model != model_path():
        raise SystemExit("no model for the current inputs: run `make model` first")
    record = training_record(model) or {}
    examples = load_examples(HELDOUT)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        running = servers.start(model, free_port(), free_port(), env={}, log_dir=Path(tmp), token="bench")
        startup = time.monotonic() - started
        try:
            latencies: list[float] = []
            with httpx.Client(base_url=running.rasa_url, params={"token": "bench"}, timeout=30) as client:
                def predict(text: str) -> str:
                    began = time.perf_counter()
                    response = client.post("/model/parse", json={"text": text})
                    latencies.append((time.perf_counter() - began) * 1000)
                    return str(response.json()["intent"]["name"])

                predict("hola")  # warm-up
                latencies.clear()
                report = evaluate(examples, predict)
                hard = evaluate(load_examples(HELDOUT_HARD), predict)
                for example in examples * 2:  # more samples for the latency percentiles
                    predict(example.text)
        finally:
            running.stop()
    print(f"NLU model {model.name}")
    print(f"  held-out: {len(examples)} utterances, {len(report.per_intent)} intents")
    print(f"  intent macro-F1 {report.macro_f1:.3f}   accuracy {report.accuracy:.3f}")
    print(f"  hard held-out ({HELDOUT_HARD.name}): macro-F1 {hard.macro_f1:.3f}   accuracy {hard.accuracy:.3f}")
    training = record.get("training_seconds")
    print(f"  training time of the last `make model` here: {training} s (Rasa reuses cached components when only "
          "some inputs changed; a first training on a fresh machine trains everything)" if training is not None
          else "  training time: not recorded (model trained elsewhere)")
    print(f"  Rasa server start-up (with action server) {startup:.1f} s")
    print(f"  /model/parse latency over {len(latencies)} requests: p50 {statistics.median(latencies):.1f} ms, "
          f"p95 {percentile(latencies, 0.95):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms")
    if report.confusions:
        print("  most frequent confusions:")
        for pair in report.confusions[:5]:
            print(f"    {pair['expected']} -> {pair['predicted']}: {pair['count']}")


if __name__ == "__main__":
    main()
