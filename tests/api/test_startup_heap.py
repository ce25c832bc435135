"""The objects a process made while starting are frozen out of Python's full collections (bot/common/heap.py): the
app once its lifespan has started (and thawed at its end, so a process that starts many apps gets them back), the
action server once every action module is imported."""
from __future__ import annotations

import gc
import subprocess
import sys

from fastapi.testclient import TestClient

from api.main import create_app
from bot.common.settings import PROJECT_ROOT


def test_the_app_freezes_its_startup_objects_while_it_runs(database_url: str) -> None:
    gc.unfreeze()
    with TestClient(create_app()) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 10_000  # the app's modules, routes and settings: left out of collections
    assert gc.get_freeze_count() == 0


def test_the_action_server_freezes_its_modules_once_imported() -> None:
    # The collector's generations list no frozen object: the last action module's classes must not be there.
    check = ("import gc, actions, actions.identity as module; "
             "print(gc.get_freeze_count(), any(o is module.ValidateIdentityForm for o in gc.get_objects()))")
    run = subprocess.run([sys.executable, "-c", check], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    frozen, still_collected = run.stdout.split()[-2:]
    assert int(frozen) > 50_000 and still_collected == "False"
