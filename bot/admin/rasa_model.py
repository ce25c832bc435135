"""Trained Rasa models, named by a hash of their inputs, so nothing retrains needlessly.

`python -m bot.admin.rasa_model train` trains only when no model exists for the current inputs, records it as
the active model (models/ACTIVE) and prints its path; `path` prints the active model's path.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.common.settings import PROJECT_ROOT

MODELS_DIR = PROJECT_ROOT / "models"
RASA_BIN = PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"


def training_inputs(root: Path = PROJECT_ROOT) -> list[Path]:
    """Everything `rasa train` reads, plus the Rasa version pins."""
    data = sorted(path for path in (root / "data").rglob("*.yml"))
    return [root / "config.yml", root / "domain.yml", root / "constraints-rasa.txt", *data]


def inputs_hash(root: Path = PROJECT_ROOT) -> str:
    digest = hashlib.sha256()
    for path in training_inputs(root):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def model_name(root: Path = PROJECT_ROOT) -> str:
    return f"acuerdo-{inputs_hash(root)}"


def model_path(root: Path = PROJECT_ROOT) -> Path:
    return root / "models" / f"{model_name(root)}.tar.gz"


def train(root: Path = PROJECT_ROOT) -> Path:
    """Train unless the model for these inputs exists; record it as active either way."""
    target = model_path(root)
    if not target.exists():
        env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
        started = time.monotonic()
        subprocess.run([str(RASA_BIN), "train", "--fixed-model-name", model_name(root), "--out",
                        str(root / "models")], cwd=root, env=env, check=True)
        record = {"training_seconds": round(time.monotonic() - started, 1), "inputs_hash": inputs_hash(root)}
        target.with_name(f"{model_name(root)}.json").write_text(json.dumps(record) + "\n", encoding="utf-8")
    record_active(root / "models", model_name(root))
    return target


def training_record(model: Path) -> dict[str, object] | None:
    """What was measured when `model` was trained here (None for a model trained elsewhere)."""
    record = model.with_name(model.name.removesuffix(".tar.gz") + ".json")
    return json.loads(record.read_text(encoding="utf-8")) if record.exists() else None


def active_model(models_dir: Path = MODELS_DIR) -> Path | None:
    """The recorded model Rasa should start with: a restart never silently switches models."""
    active = models_dir / "ACTIVE"
    if not active.exists():
        return None
    path = models_dir / active.read_text(encoding="utf-8").strip()
    return path if path.exists() else None


def record_active(models_dir: Path, name: str) -> None:
    """What a restart runs (written after a switch, atomically: a crash leaves the old name or the new one)."""
    partial = models_dir / "ACTIVE.partial"
    partial.write_text(f"{name}.tar.gz\n", encoding="utf-8")
    partial.replace(models_dir / "ACTIVE")


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path
    size_bytes: int
    trained_at: datetime  # when the file was written
    training_seconds: float | None  # measured when trained here
    active: bool


def list_models(models_dir: Path = MODELS_DIR) -> list[ModelInfo]:
    """Every model kept in models/, newest first; previous models stay so an admin can go back to one."""
    active = active_model(models_dir)
    found = []
    for path in models_dir.glob("acuerdo-*.tar.gz"):
        record = training_record(path) or {}
        seconds = record.get("training_seconds")
        found.append(ModelInfo(path.name.removesuffix(".tar.gz"), path, path.stat().st_size,
                               datetime.fromtimestamp(path.stat().st_mtime, UTC),
                               float(seconds) if isinstance(seconds, int | float) else None, path == active))
    return sorted(found, key=lambda info: (info.trained_at, info.name), reverse=True)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "path"
    if command == "train":
        print(train())
        return 0
    if command == "path":
        path = active_model()
        if path is None:
            print("no active model: run `make model`", file=sys.stderr)
            return 1
        print(path)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
