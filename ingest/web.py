"""HTTP plumbing shared by the routes and receivers: bounded body reads, orjson, list cursors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import HTTPException, Request, Response

from ingest.cursor import CursorError, FilterValue, SortKey, decode_cursor

__all__ = [
    "CURSOR_HELP",
    "ERROR_CONTENT",
    "INGEST_KEY_ERRORS",
    "RETRY_AFTER_S",
    "OrjsonResponse",
    "page_after",
    "read_body",
]

RETRY_AFTER_S = 2  # seconds; what a 503 asks the client to wait
CURSOR_HELP = "next_cursor of the previous page; send the same filters with it"


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


def page_after(
    cursor: str | None, offset: int, *, listing: str, filters: Mapping[str, FilterValue]
) -> SortKey | None:
    """The sort key a list page continues after (None: the first page); 400 on a bad cursor."""
    if not cursor:
        return None
    if offset:
        raise HTTPException(
            400, "cursor and offset cannot be combined: follow next_cursor without offset"
        )
    try:
        return decode_cursor(cursor, listing=listing, filters=filters)
    except CursorError as exc:
        raise HTTPException(400, str(exc)) from None


# the body of Leash's own error answers, for route descriptions: {"detail": "<what to do>"}
ERROR_CONTENT: dict[str, Any] = {
    "application/json": {"schema": {"type": "object", "properties": {"detail": {}}}}
}
# what every keyed ingest route answers when its key is missing or lacks the scope
INGEST_KEY_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or unknown API key", "content": ERROR_CONTENT},
    403: {"description": "The key lacks the ingest scope", "content": ERROR_CONTENT},
}
