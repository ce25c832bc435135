"""A loaded Rasa holds about 740,000 objects (TensorFlow, the model's graph): Python's full garbage collection walks
them all in about 330 ms, and every debtor whose turn is on that server waits for it (issue 23). They live as long
as the model does: frozen once a model is loaded, the collector walks only what turns made since.

A model loaded later (PUT /model: how a switch loads the standby, or aligns a live replica) thaws the heap at once,
so the model it replaces can be collected once the turns still running on it end, and freezes it again
`SETTLE_SECONDS` later. A turn still holding the old model then (longer than Rasa's own answers take) keeps it
frozen until the next load; so would an evaluation (`POST /model/test/intents` with a model, which this project
does not call) running past it."""
from __future__ import annotations

import asyncio
import functools
import gc
from collections.abc import Awaitable, Callable
from typing import Any

import rasa.core.run
import rasa.server

SETTLE_SECONDS = 60.0


def refreeze() -> None:
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _at_start(load: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(load)
    async def loaded(*args: Any, **kwargs: Any) -> Any:
        agent = await load(*args, **kwargs)
        refreeze()  # nothing else is loaded yet: no turn runs before the server starts
        return agent

    return loaded


def _replacing(load: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(load)
    async def loaded(*args: Any, **kwargs: Any) -> Any:
        agent = await load(*args, **kwargs)
        gc.unfreeze()  # the old model collectable when its last turn ends
        asyncio.get_running_loop().call_later(SETTLE_SECONDS, refreeze)
        return agent

    return loaded


def freeze_after_model_loads() -> None:
    """Rasa's loads, at start (a listener) and later (`rasa.server._load_agent`): both looked up by name when
    called, so replacing the module attributes is enough."""
    rasa.core.run.load_agent_on_start = _at_start(rasa.core.run.load_agent_on_start)
    rasa.server._load_agent = _replacing(rasa.server._load_agent)
