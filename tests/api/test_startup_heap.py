"""The objects a process made while starting are frozen out of Python's full collections (bot/common/heap.py): the
app's once it is imported (uvicorn imports it), the action server's once every action module is imported. The
collector's generations list no frozen object, so a function or class of the last module loaded must be absent."""
from __future__ import annotations

import subprocess
import sys

import pytest

from bot.common.settings import PROJECT_ROOT


@pytest.mark.parametrize(("module", "last_loaded"), [("api.main", "api.main.create_app"),
                                                     ("actions", "actions.identity.ValidateIdentityForm")])
def test_a_served_process_freezes_what_it_made_starting(module: str, last_loaded: str) -> None:
    owner, _, name = last_loaded.rpartition(".")
    check = (f"import gc, importlib, {module}; thing = getattr(importlib.import_module('{owner}'), '{name}'); "
             "print(gc.get_freeze_count(), any(o is thing for o in gc.get_objects()))")
    run = subprocess.run([sys.executable, "-c", check], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    frozen, still_collected = run.stdout.split()[-2:]
    assert int(frozen) > 50_000 and still_collected == "False"
