"""The training-data store reads exactly what Rasa's YAML reader reads, and writes nothing when nothing changed."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from bot.admin.training_data import TrainingData, normalized, plain_text
from bot.common.settings import PROJECT_ROOT
from bot.tools.cli import main as cli


def yaml_examples(folder: Path) -> list[tuple[str, str]]:
    """Every (intent, example) as a YAML parser sees the files: the reference the line editor must match."""
    found = []
    for path in sorted(folder.glob("*.yml")):
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu", []):
            if "intent" in block:
                found += [(block["intent"], line.strip()[2:]) for line in block["examples"].splitlines()
                          if line.strip()]
    return found


def test_the_store_sees_every_example_the_yaml_holds() -> None:
    store = TrainingData(PROJECT_ROOT / "data" / "nlu", PROJECT_ROOT / "domain.yml")
    assert [(e.intent, e.text) for e in store.examples()] == yaml_examples(PROJECT_ROOT / "data" / "nlu")


def test_export_round_trips_byte_for_byte(tmp_path: Path, database_url: str) -> None:
    assert cli(["export-training-data", str(tmp_path)]) == 0
    for path in sorted((PROJECT_ROOT / "data" / "nlu").glob("*.yml")):
        exported = tmp_path / "data" / "nlu" / path.name
        assert hashlib.sha256(exported.read_bytes()).digest() == hashlib.sha256(path.read_bytes()).digest(), path
    assert (tmp_path / "domain.yml").read_bytes() == (PROJECT_ROOT / "domain.yml").read_bytes()


def test_an_edit_changes_only_its_own_line(tmp_path: Path) -> None:
    shutil.copytree(PROJECT_ROOT / "data" / "nlu", tmp_path / "nlu")
    store = TrainingData(tmp_path / "nlu", PROJECT_ROOT / "domain.yml")
    target = store.examples("ask_balance")[3]
    path = tmp_path / "nlu" / target.file
    before = path.read_text(encoding="utf-8").splitlines()
    store.edit(target.id, target.text + " porfa")
    after = path.read_text(encoding="utf-8").splitlines()
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert changed == [(f"    - {target.text}", f"    - {target.text} porfa")]
    assert yaml_examples(tmp_path / "nlu") == [(e.intent, e.text) for e in store.examples()]


@pytest.mark.parametrize(("text", "plain", "key"), [
    ("te pago [el viernes](date)", "te pago el viernes", "te pago el viernes"),
    ("Mañana  PAGO [500](amount:500)", "Mañana  PAGO 500", "manana pago 500"),
])
def test_annotations_and_normalisation(text: str, plain: str, key: str) -> None:
    assert (plain_text(text), normalized(text)) == (plain, key)
