"""A loaded Rasa holds about 740,000 objects (TensorFlow, the model's graph): Python's full garbage collection walks
them all in about 330 ms, and every debtor whose turn is on that server waits for it (issue 23). They live as long
as the model does: frozen once a model is loaded, the collector walks only what turns made since. A model loaded
later (PUT /model, how a switch loads the standby) unfreezes first, so the model it replaces can be collected."""
from __future__ import annotations

import asyncio
import functools
import gc
from collections.abc import Awaitable, Callable
from typing import Any

import rasa.core.run
import rasa.server


def refreeze() -> None:
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _then_refreeze(load: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(load)
    async def loaded(*args: Any, **kwargs: Any) -> Any:
        agent = await load(*args, **kwargs)
        # Once the caller has put the new agent in place of the old (PUT /model assigns it when this returns, with
        # no await in between): frozen now, the old model would never be collected.
        asyncio.get_running_loop().call_soon(refreeze)
        return agent

    return loaded


def freeze_after_model_loads() -> None:
    """Rasa's two ways to load a model, at start (a listener) and PUT /model: both looked up by name when called."""
    rasa.core.run.load_agent_on_start = _then_refreeze(rasa.core.run.load_agent_on_start)
    rasa.server._load_agent = _then_refreeze(rasa.server._load_agent)
