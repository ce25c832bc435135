"""rasa_server/heap.py freezes a Rasa server's heap after each model load (a full collection otherwise walks its
740,000 objects), and thaws it first, so the model a PUT /model replaced is collected. Run in the Rasa venv, with
Rasa's loader replaced by one whose "model" is a reference cycle (only the collector frees those)."""
from __future__ import annotations

import json
import subprocess

from bot.admin.rasa_model import RASA_BIN
from bot.common.settings import PROJECT_ROOT

CHECK = """
import asyncio, gc, json, weakref
import rasa.core.run, rasa.server

class Agent:
    def __init__(self):
        self.me = self  # a cycle: refcounting alone never frees it

class App:
    agent = None

async def load(*args, **kwargs):
    return Agent()

rasa.server._load_agent = load
rasa.core.run.load_agent_on_start = load
from rasa_server.heap import freeze_after_model_loads
freeze_after_model_loads()
app = App()

async def put_model():  # as Rasa's PUT /model does: the new agent replaces the old when the load returns
    app.agent = await rasa.server._load_agent(model_path="new.tar.gz")
    await asyncio.sleep(0)

async def main():
    gc.unfreeze()
    await rasa.core.run.load_agent_on_start("m.tar.gz", None, None, app, None)
    await asyncio.sleep(0)
    at_start = gc.get_freeze_count()
    await put_model()
    first = weakref.ref(app.agent)
    after_first = gc.get_freeze_count()
    await put_model()
    print(json.dumps({"at_start": at_start, "after_load": after_first, "replaced_collected": first() is None,
                      "still_frozen": gc.get_freeze_count()}))

asyncio.run(main())
"""


def test_a_loaded_model_is_frozen_and_a_replaced_one_collected() -> None:
    run = subprocess.run([str(RASA_BIN.with_name("python")), "-c", CHECK], cwd=PROJECT_ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.splitlines()[-1])
    assert result["at_start"] > 100_000  # Rasa's and TensorFlow's modules, frozen once the start-up load is done
    assert result["after_load"] > 100_000
    assert result["still_frozen"] > 100_000
    assert result["replaced_collected"]  # thawed before the collection: the old model did not stay frozen for good
