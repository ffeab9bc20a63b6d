"""HTTP plumbing shared by the ingest routes and receivers: bounded body reads, orjson responses."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import HTTPException, Request, Response

__all__ = ["RETRY_AFTER_S", "OrjsonResponse", "read_body"]

RETRY_AFTER_S = 2  # seconds; what a 503 asks the client to wait


async def read_body(request: Request, limit: int) -> bytes:
    """Read at most `limit` bytes of body; 413 beyond it, before buffering the rest."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(
            413, f"body is {declared} bytes; the limit is {limit} (LEASH_MAX_BODY_BYTES)"
        )
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise HTTPException(413, f"body exceeds {limit} bytes (LEASH_MAX_BODY_BYTES)")
    return bytes(chunks)


class OrjsonResponse(Response):
    """JSON via orjson (raw records are embedded as pre-serialised fragments, not re-parsed)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
