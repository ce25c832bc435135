"""`Server-Timing: app;dur=<ms>` on every response: how long the app itself took, from the moment the server
handed it the request until the response started. Browsers' developer tools show it; the burst benchmark
(benchmarks/gateway.py) sets it against what the client waited, which also counts queues before the app."""
from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ServerTiming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                header = f"app;dur={(time.perf_counter() - started) * 1000:.1f}".encode()
                message["headers"] = [*message.get("headers", []), (b"server-timing", header)]
            await send(message)

        await self.app(scope, receive, timed)
