"""The lock store production's Rasa servers use (rasa_server/lock_store.py): one turn of a conversation at a time,
with two Redis commands a turn. Run in the Rasa venv against a real Redis, created as Rasa creates it from its
endpoints."""
from __future__ import annotations

import json
import subprocess

from bot.admin.rasa_model import RASA_BIN
from bot.common.settings import PROJECT_ROOT
from scripts.servers import LOCK_STORE
from scripts.services import Redis

LOCKS = """
import asyncio, json, sys
from urllib.parse import urlsplit
import redis
from rasa.core.lock_store import LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

location = urlsplit(sys.argv[1])
store = LockStore.create(EndpointConfig(url=location.hostname, port=location.port, db=1, key_prefix="acuerdo",
                                        type=sys.argv[2]))
plain = redis.Redis(host=location.hostname, port=location.port, db=1)
out = {"class": type(store).__module__ + "." + type(store).__name__}

def calls() -> dict:
    return {name.removeprefix("cmdstat_"): stats["calls"] for name, stats in plain.info("commandstats").items()}

async def main() -> None:
    log = []

    async def turn(conversation: str, name: str, seconds: float) -> None:
        async with store.lock(conversation):
            log.append(f"{name} in")
            await asyncio.sleep(seconds)
            log.append(f"{name} out")

    await turn("warm", "warm", 0)  # loads the release script once
    log.clear()
    plain.config_resetstat()
    await turn("alone", "alone", 0)
    out["commands_a_turn"] = {name: count for name, count in calls().items() if name != "config|resetstat"}
    log.clear()
    await asyncio.gather(turn("c1", "first", 0.2), turn("c1", "second", 0), turn("c2", "other", 0))
    out["order"] = log
    try:
        async with store.lock("c3"):
            raise ValueError("the turn failed")
    except ValueError:
        pass
    async with store.lock("c3", lock_lifetime=1):
        out["released_after_an_error"] = True
    plain.set("acuerdo:mutex:c4", "a dead server's", px=300)  # its holder died: the lock expires on its own
    async with store.lock("c4", lock_lifetime=5):
        out["taken_after_expiry"] = True
    plain.set("acuerdo:mutex:c5", "someone's", px=60_000)
    try:
        async with store.lock("c5", lock_lifetime=0.3):
            out["c5"] = "taken while held"
    except LockError:
        out["c5"] = "LockError"
    async with store.lock("c6", lock_lifetime=0.2):
        await asyncio.sleep(0.3)  # outlived its lifetime: another turn takes the lock meanwhile
        plain.set("acuerdo:mutex:c6", "the next turn's", px=60_000)
    out["c6_after"] = plain.get("acuerdo:mutex:c6").decode()  # not released by the late one
    out["left"] = sorted(key.decode() for key in plain.keys("acuerdo:mutex:*"))

asyncio.run(main())
print(json.dumps(out))
"""


def test_one_turn_of_a_conversation_at_a_time_in_two_commands(redis_server: Redis) -> None:
    run = subprocess.run([str(RASA_BIN.with_name("python")), "-c", LOCKS, redis_server.url, LOCK_STORE],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.splitlines()[-1])
    assert out["class"] == LOCK_STORE  # Rasa builds it from the endpoints' `type`
    # Two round trips: SET NX PX, then the release script, whose GET and DEL run inside Redis (Rasa's own store
    # sends 4 GETs, 2 SETs and a DEL, each a round trip).
    assert out["commands_a_turn"] == {"set": 1, "evalsha": 1, "get": 1, "del": 1}
    order = out["order"]
    assert order.index("first out") < order.index("second in")  # the same conversation waits
    assert order.index("other in") < order.index("first out")  # another one does not
    assert out["released_after_an_error"] and out["taken_after_expiry"]
    assert out["c5"] == "LockError"  # held past the lifetime a turn may wait: Rasa's error
    assert out["c6_after"] == "the next turn's"
    assert out["left"] == ["acuerdo:mutex:c5", "acuerdo:mutex:c6"]  # the others' locks are gone
