"""Python's full garbage collection walks every object a process holds: the app's 200,000 after start-up take it
about 110 ms, during which the event loop serves nobody, and a burst's webhooks that arrive then wait for it (the
acknowledgement's p99, issue 23). Objects made while starting live as long as the process: frozen, the collector
leaves them out and walks only what requests made since.

Once a process, at import time of what it serves (api.main, actions, the reply worker's start): freezing again and
thawing (say, at each app's start and shutdown) would move whatever garbage exists then into the oldest generation,
which is collected rarely, and a test run that starts hundreds of apps kept their database pools open until
PostgreSQL refused connections."""
from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """The objects alive now, leaving out garbage (collected first, once: about 0.1 s of start-up)."""
    gc.collect()
    gc.freeze()
