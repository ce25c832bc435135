"""Request body caps, enforced before anything parses (or even fully receives) a body.

Webhooks are public URLs: without a cap anyone can make the app hold a huge body in memory before the
signature check refuses it. Every route that reads a body it did not ask FastAPI to parse goes through
`read_body_capped` (Stripe: 512 KB; Twilio: 64 KB).
"""
from __future__ import annotations

from fastapi import HTTPException, Request


def _too_large(max_bytes: int) -> HTTPException:
    return HTTPException(status_code=413, detail=f"request body larger than {max_bytes} bytes")


async def read_body_capped(request: Request, max_bytes: int) -> bytes:
    """The whole body if it is at most `max_bytes`; HTTPException(413) as soon as it is known to be larger.

    A declared Content-Length over the cap is refused without reading a byte; a chunked (or lying) body is
    read chunk by chunk and refused the moment it passes the cap, so at most `max_bytes` plus one chunk is
    ever held. The body is then cached on the request, so `request.body()`, `request.form()` and
    `request.json()` still work afterwards without reading the stream again.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise HTTPException(status_code=400, detail="invalid Content-Length") from None
        if length < 0:
            raise HTTPException(status_code=400, detail="invalid Content-Length")
        if length > max_bytes:
            raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # Starlette's own cache: later body()/form()/json() calls read this
    return body
