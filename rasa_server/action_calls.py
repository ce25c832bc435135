"""Rasa 3.6 builds a new aiohttp session for every call to the action server (`EndpointConfig.request` opens one and
closes it), so every action call connects anew, and the action server accepts a new connection; it also encodes
each call (the tracker's events and the 23 KB domain) with the standard json module. Under a burst the connects
were a fifth of the action call's time and the encoding another fifth (README, "Performance").

This keeps one session per event loop whose connections stay open between calls (the action server keeps them
120 s, aiohttp reuses them for 15), and encodes with ujson, which Rasa already depends on, or with json for
anything ujson refuses. What a call sends and what it answers are unchanged: the same headers, query, body and
timeout, an error status raises Rasa's own `ClientResponseError`, an answer that is not JSON is None. Every
endpoint Rasa calls this way gets it (the action server; a callback or NLG server if one is configured)."""
from __future__ import annotations

import asyncio
import functools
import json
import ssl
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import rasa.core.run
import ujson
from aiohttp.client_exceptions import ContentTypeError
from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
from rasa.shared.exceptions import FileNotFoundException
from rasa.utils.endpoints import ClientResponseError, EndpointConfig, concat_url

_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = weakref.WeakKeyDictionary()


def encode(payload: Any) -> str:
    """ujson, several times faster on a tracker; json for what ujson refuses (an integer past 64 bits, NaN)."""
    try:
        return ujson.dumps(payload, ensure_ascii=False, escape_forward_slashes=False)
    except (TypeError, OverflowError, ValueError):
        return json.dumps(payload)


def _session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        # As Rasa's session a call had it: no cookies kept between calls, no cap on calls at once.
        session = _sessions[loop] = aiohttp.ClientSession(
            json_serialize=encode, timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            cookie_jar=aiohttp.DummyCookieJar(), connector=aiohttp.TCPConnector(limit=0))
    return session


@functools.lru_cache(maxsize=8)
def _ssl_context(cafile: str) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=cafile)
    except FileNotFoundError as error:
        raise FileNotFoundException(f"Failed to find certificate file, '{cafile}' does not exist.") from error


async def request(self: EndpointConfig, method: str = "post", subpath: str | None = None,
                  content_type: str | None = "application/json", compress: bool = False, **kwargs: Any) -> Any:
    """`EndpointConfig.request` on the loop's open session: the headers and basic auth its own session carried go
    with each request instead."""
    headers = {"Content-Type": content_type} if content_type else {}
    headers.update(kwargs.pop("headers", None) or {})
    headers.update(self.headers)
    auth = (aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
            if self.basic_auth else None)
    if self.cafile:
        kwargs["ssl"] = _ssl_context(self.cafile)
    async with _session().request(method, concat_url(self.url, subpath), headers=headers, auth=auth,
                                  params=self.combine_parameters(kwargs), compress=compress, **kwargs) as response:
        if response.status >= 400:
            raise ClientResponseError(response.status, response.reason or "", await response.content.read())
        try:
            return await response.json()
        except ContentTypeError:
            return None


async def close_sessions() -> None:
    for session in list(_sessions.values()):
        await session.close()
    _sessions.clear()


def _closing_too(close: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    @functools.wraps(close)
    async def closed(*args: Any, **kwargs: Any) -> None:
        try:
            await close(*args, **kwargs)
        finally:
            await close_sessions()

    return closed


def keep_action_server_connections() -> None:
    """Replace `EndpointConfig.request`; the sessions close with Rasa's other resources when the server stops
    (`close_resources`, looked up by name when the server starts)."""
    EndpointConfig.request = request
    rasa.core.run.close_resources = _closing_too(rasa.core.run.close_resources)
