"""Where a full `rasa train` spends its minutes: `make bench-training` (or `python -m benchmarks.training`).

Trains the project's model (config.yml, domain.yml, data/) from scratch in a temporary directory with an empty
Rasa cache (models/ and the project's .rasa cache are never touched), reads Rasa's own log of when each graph
component started and finished training, and prints the seconds per component, the DIET epochs and their
average, and the wall time of the whole command. The budget (issue 21) is a full retrain under five minutes on
two cores.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.admin.rasa_model import RASA_BIN
from bot.common.settings import PROJECT_ROOT

_STAMP = r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})"
_STARTED = re.compile(_STAMP + r".*Starting to train component '(\w+)'")
_FINISHED = re.compile(_STAMP + r".*Finished training component '(\w+)'")
_EPOCHS = re.compile(r"Epochs: 100%.*?\| (\d+)/\d+ \[(?:(\d+):)?(\d+):(\d+)<")
BUDGET_SECONDS = 300


@dataclass
class Timings:
    wall_seconds: float = 0.0
    components: dict[str, float] = field(default_factory=dict)  # seconds each, in the order they finished
    epochs: list[tuple[int, float]] = field(default_factory=list)  # (epochs, seconds) per trained neural model


def _seconds(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")


def parse_log(lines: Iterable[str]) -> Timings:
    """Component timings from Rasa's INFO log (to the second) and the epoch bars' final totals."""
    timings, started = Timings(), {}
    for line in lines:
        if match := _STARTED.search(line):
            started[match.group(2)] = _seconds(match.group(1))
        elif (match := _FINISHED.search(line)) and match.group(2) in started:
            name = match.group(2)
            same = sum(label.split(" (")[0] == name for label in timings.components)
            label = f"{name} ({same + 1})" if same else name
            timings.components[label] = (_seconds(match.group(1)) - started.pop(name)).total_seconds()
        for epochs in _EPOCHS.finditer(line):
            hours, minutes, seconds = (int(part or 0) for part in epochs.group(2, 3, 4))
            finished = (int(epochs.group(1)), float(hours * 3600 + minutes * 60 + seconds))
            if not timings.epochs or timings.epochs[-1] != finished:  # a finished bar is redrawn more than once
                timings.epochs.append(finished)
    return timings


def train_from_scratch(root: Path) -> Timings:
    with tempfile.TemporaryDirectory(prefix="acuerdo-bench-training-") as folder:
        work = Path(folder)
        for name in ("config.yml", "domain.yml"):
            shutil.copy(root / name, work / name)
        shutil.copytree(root / "data", work / "data")
        env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
        started = time.monotonic()
        result = subprocess.run([str(RASA_BIN), "train", "--fixed-model-name", "bench", "--out", str(work / "out")],
                                cwd=work, env=env, capture_output=True, text=True, timeout=3600)
        wall = time.monotonic() - started
        output = result.stdout + result.stderr
        if result.returncode != 0:
            raise SystemExit(f"rasa train failed:\n{output[-4000:]}")
    timings = parse_log(re.split(r"[\r\n]", output))
    timings.wall_seconds = wall
    return timings


def report(timings: Timings) -> str:
    rows = ["| component | seconds |", "|---|---|"]
    rows += [f"| {name} | {seconds:.0f} |" for name, seconds in sorted(timings.components.items(),
                                                                       key=lambda item: -item[1])]
    measured = sum(timings.components.values())
    rows.append(f"| (everything else: reading data, the graph, packing the model) | "
                f"{max(timings.wall_seconds - measured, 0):.0f} |")
    rows.append(f"| **`rasa train`, wall time** | **{timings.wall_seconds:.0f}** |")
    lines = ["\n".join(rows), ""]
    for epochs, seconds in timings.epochs:
        lines.append(f"Neural training: {epochs} epochs in {seconds:.0f} s ({seconds / max(epochs, 1):.1f} s an epoch)")
    verdict = "within" if timings.wall_seconds <= BUDGET_SECONDS else "OVER"
    lines.append(f"Budget: {BUDGET_SECONDS} s on {os.cpu_count()} CPUs: {verdict} ({timings.wall_seconds:.0f} s).")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.training", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=PROJECT_ROOT, help="the project whose inputs are trained")
    args = parser.parse_args(argv)
    print(report(train_from_scratch(args.root)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
