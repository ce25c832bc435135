"""Python's full garbage collection walks every object a process holds: the app's 200,000 after start-up take it
about 110 ms, during which the event loop serves nobody, and a burst's webhooks that arrive then wait for it (the
acknowledgement's p99, issue 23). Objects made while starting live as long as the process: frozen, the collector
leaves them out and walks only what requests made since. Both calls are constant time (lists moved, not walked)."""
from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Call once the process has started: imports done, settings read, pools and clients made."""
    gc.freeze()


def unfreeze_objects() -> None:
    """At shutdown, for a process that starts and stops apps (the tests): what was frozen is collectable again."""
    gc.unfreeze()
