"""The models kept in models/: every one listed, newest first, the active one marked, what training took."""
from __future__ import annotations

import json
import os
from pathlib import Path

from bot.admin.rasa_model import list_models


def a_model(root: Path, name: str, written: float, seconds: float | None = None) -> None:
    path = root / "models" / f"{name}.tar.gz"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(b"\0" * 2048)
    os.utime(path, (written, written))
    if seconds is not None:
        (root / "models" / f"{name}.json").write_text(json.dumps({"training_seconds": seconds}), encoding="utf-8")


def test_models_are_listed_newest_first_with_the_active_one_marked(tmp_path: Path) -> None:
    a_model(tmp_path, "acuerdo-aaaa", 1_700_000_000, 1620.4)
    a_model(tmp_path, "acuerdo-bbbb", 1_700_100_000, 251.0)
    a_model(tmp_path, "acuerdo-cccc", 1_700_050_000)  # trained elsewhere: no record
    (tmp_path / "models" / "ACTIVE").write_text("acuerdo-aaaa.tar.gz\n", encoding="utf-8")
    (tmp_path / "models" / "notes.tar.gz").write_bytes(b"not a model")
    listed = list_models(tmp_path / "models")
    assert [info.name for info in listed] == ["acuerdo-bbbb", "acuerdo-cccc", "acuerdo-aaaa"]
    assert [info.active for info in listed] == [False, False, True]
    assert [info.training_seconds for info in listed] == [251.0, None, 1620.4]
    assert listed[0].size_bytes == 2048


def test_no_models_folder_lists_nothing(tmp_path: Path) -> None:
    assert list_models(tmp_path / "models") == []
