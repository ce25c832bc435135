"""The dependency rule: bot/ never imports its adapters, and its wings import only the wings below them.

The contracts live in pyproject.toml ([tool.importlinter]); this runs them on every `make test`.
"""
from __future__ import annotations

import pytest
from importlinter.cli import lint_imports

from bot.common.settings import PROJECT_ROOT


def test_the_import_contracts_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    assert lint_imports(config_filename=str(PROJECT_ROOT / "pyproject.toml"), no_cache=True) == 0
