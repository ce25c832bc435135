"""Train a model from what the admins edited, aside: the files are copied into a workspace first, so edits made
while Rasa trains go into the next model, never half into this one.

The model is named by the hash of its inputs (bot.admin.rasa_model), so training the same files twice finds the
model already there. Rasa's graph cache (the project's .rasa/cache) is shared with `make model`: when only NLU
examples changed, the dialogue policies are not trained again.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.admin.rasa_model import inputs_hash
from bot.common.settings import PROJECT_ROOT, Settings

# tqdm's bar, redrawn with \r: "Epochs:  45%|████▌     | 18/40 [00:20<00:25, ...]"
_EPOCH = re.compile(r"Epochs:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)")
_COMPONENT = re.compile(r"Starting to train component '(\w+)'")
Progress = Callable[[dict[str, object]], None]


class TrainingFailed(RuntimeError):
    """`rasa train` exited with an error; the message ends with its last lines."""


@dataclass(frozen=True)
class Trained:
    name: str
    path: Path
    seconds: float
    reused: bool  # the model for these inputs already existed


_running: set[subprocess.Popen[bytes]] = set()


def stop_running() -> None:
    """Kill a training in progress (the worker is stopping): its job is marked failed at the next start."""
    for process in list(_running):
        process.kill()


def workspace(settings: Settings, into: Path) -> Path:
    """A copy of everything `rasa train` reads: config.yml, the domain and data/ with the admins' NLU files."""
    for name in ("config.yml", "constraints-rasa.txt"):
        shutil.copy(PROJECT_ROOT / name, into / name)
    shutil.copy(settings.domain_file, into / "domain.yml")
    shutil.copytree(PROJECT_ROOT / "data", into / "data", ignore=shutil.ignore_patterns("nlu"))
    shutil.copytree(settings.training_data_dir, into / "data" / "nlu",
                    ignore=shutil.ignore_patterns("*.partial", "*.tmp", ".*"))
    return into


def read_progress(chunk: str, stage: str) -> tuple[str, dict[str, object] | None]:
    """The stage (the component being trained) and the latest epoch bar in a piece of Rasa's output."""
    update: dict[str, object] | None = None
    for line in re.split(r"[\r\n]", chunk):
        if match := _COMPONENT.search(line):
            stage = match.group(1)
            update = {"stage": stage}
        elif match := _EPOCH.search(line):
            update = {"stage": stage, "epoch": int(match.group(1)), "epochs": int(match.group(2))}
    return stage, update


def train(settings: Settings, on_progress: Progress, timeout_seconds: float = 3600) -> Trained:
    """Train into settings.models_dir unless the model for the current files is there; report epochs as they go."""
    with tempfile.TemporaryDirectory(prefix="acuerdo-train-") as folder:
        work = workspace(settings, Path(folder))
        name = f"acuerdo-{inputs_hash(work)}"
        target = settings.models_dir / f"{name}.tar.gz"
        if target.exists():
            return Trained(name, target, 0.0, reused=True)
        settings.models_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
               "PYTHONUNBUFFERED": "1", "RASA_CACHE_DIRECTORY": str(settings.rasa_cache_directory)}
        command = [*shlex.split(settings.rasa_command), "train", "--fixed-model-name", name,
                   "--out", str(work / "out")]
        started = time.monotonic()
        on_progress({"stage": "starting"})
        process = subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        _running.add(process)
        watchdog = threading.Timer(timeout_seconds, process.kill)  # a silent hang ends too
        watchdog.start()
        assert process.stdout is not None
        tail, stage = "", "starting"
        try:
            while chunk := process.stdout.read1(4096):  # type: ignore[attr-defined]
                text = chunk.decode("utf-8", errors="replace")
                tail = (tail + text)[-6000:]
                stage, update = read_progress(text, stage)
                if update:
                    on_progress(update)
        finally:
            watchdog.cancel()
            _running.discard(process)
        if process.wait() != 0:
            raise TrainingFailed(f"rasa train exited with {process.returncode}:\n{tail[-3000:]}")
        seconds = round(time.monotonic() - started, 1)
        partial = target.with_name(target.name + ".partial")
        shutil.copy(work / "out" / f"{name}.tar.gz", partial)
        partial.replace(target)  # a model appears whole or not at all
        target.with_name(f"{name}.json").write_text(
            f'{{"training_seconds": {seconds}, "inputs_hash": "{name.removeprefix("acuerdo-")}"}}\n', encoding="utf-8")
    return Trained(name, target, seconds, reused=False)
