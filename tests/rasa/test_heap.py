"""rasa_server/heap.py freezes a Rasa server's heap after each model load (a full collection otherwise walks its
740,000 objects), and after a later load thaws it at once, so the model a PUT /model replaced is collected once the
turns still running on it end. Run in the Rasa venv, with Rasa's loader replaced by one whose "model" is a reference
cycle (only the collector frees those), and automatic collections off (only the module's own collections count)."""
from __future__ import annotations

import json
import subprocess

from bot.admin.rasa_model import RASA_BIN
from bot.common.settings import PROJECT_ROOT

CHECK = """
import asyncio, gc, json, weakref
gc.disable()
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
from rasa_server import heap
heap.freeze_after_model_loads()
heap.SETTLE_SECONDS = 0.2
app = App()

async def put_model():  # as Rasa's PUT /model does: the new agent replaces the old when the load returns
    app.agent = await rasa.server._load_agent(model_path="new.tar.gz")

async def main():
    gc.unfreeze()
    app.agent = await rasa.core.run.load_agent_on_start("m.tar.gz", None, None, app, None)
    at_start = gc.get_freeze_count()
    first = weakref.ref(app.agent)
    turn_on_the_old_model = app.agent  # a debtor's turn still running when the new model arrives
    await put_model()
    await asyncio.sleep(0.05)
    thawed = gc.get_freeze_count()
    del turn_on_the_old_model  # that turn ends before the heap is frozen again
    await asyncio.sleep(0.4)
    print(json.dumps({"at_start": at_start, "thawed": thawed, "replaced_collected": first() is None,
                      "frozen_again": gc.get_freeze_count()}))

asyncio.run(main())
"""


def test_a_loaded_model_is_frozen_and_a_replaced_one_collected() -> None:
    run = subprocess.run([str(RASA_BIN.with_name("python")), "-c", CHECK], cwd=PROJECT_ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.splitlines()[-1])
    assert result["at_start"] > 100_000  # Rasa's and TensorFlow's modules, frozen once the start-up load is done
    assert result["thawed"] == 0  # a later load thaws at once
    assert result["frozen_again"] > 100_000
    assert result["replaced_collected"]  # its last turn ended before the refreeze: not kept frozen for good
