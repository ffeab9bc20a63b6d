"""POST /v1/decide's body model and DecideFastPath, its happy path without FastAPI's routing.

Agents call decide before every dangerous action, so its latency is the gate's product. FastAPI's
route matching and dependency solving cost more than the gate itself (~150 of ~290 µs per call
here). This ASGI middleware answers a well-formed, authorised decide directly — same key check,
same body model, same gate, same JSON — and hands everything else (a bad key, a missing scope, a
body that does not validate, any other path) to the app untouched, with the body replayed, so
every error keeps the exact shape and status the route gives. The route stays registered: it is
what OpenAPI documents, and what answers when this middleware is not installed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from pydantic import BaseModel, Field, ValidationError

from detect.context.org import account_of
from detect.gate.service import GateService
from ingest.auth import Authenticator, Caller

__all__ = ["DecideBody", "DecideFastPath"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

PATH = "/v1/decide"
SCOPE = "ingest"
MAX_BODY = 256 * 1024  # a decide body is < 1 KB; anything larger goes to the route's own checks
_HEADERS = [(b"content-type", b"application/json")]


class DecideBody(BaseModel):
    """What an agent asks: may `principal` do `action` (of `source`) on `resources`?

    For a tool call, `source` is "tool" or "tool:<runtime>", `action` the tool's name and
    `arguments` its input: the class comes from the tool catalogue (a shell command, SQL, a file
    path), and only a redacted summary of the arguments is kept (ingest.catalogue.tools)."""

    principal: str = Field(min_length=1, max_length=2048)
    action: str = Field(min_length=1, max_length=256)
    source: str = Field(default="", max_length=256)
    resources: list[str] = Field(default_factory=list, max_length=256)
    arguments: dict[str, Any] | str | None = Field(
        default=None, description="a tool call's input (source tool or tool:<runtime>)"
    )


class DecideFastPath:
    def __init__(self, app: ASGIApp, *, gate: GateService, auth: Authenticator) -> None:
        self.app = app
        self.gate = gate
        self.auth = auth

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks: list[Message] = []
        size, more = 0, True
        while more and size <= MAX_BODY:
            message = await receive()
            chunks.append(message)
            if message["type"] != "http.request":
                break  # a disconnect: let the app see it
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        answer = (
            None
            if more or chunks[-1]["type"] != "http.request"
            else self._answer(scope, b"".join(m.get("body", b"") for m in chunks))
        )
        if answer is None:
            await self.app(scope, _replay(chunks, receive), send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_HEADERS, (b"content-length", str(len(answer)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    def _answer(self, scope: MutableMapping[str, Any], body: bytes) -> bytes | None:
        """The decision's JSON, or None when the route must answer (it gives the error)."""
        caller = self.auth.identify(_header(scope, b"authorization"))
        if caller is None or SCOPE not in caller.scopes or not _json(scope):
            return None
        try:
            ask = DecideBody.model_validate_json(body)
        except ValidationError:
            return None
        if binding_refusal(caller, ask.principal):
            return None  # the route answers 403, naming the binding
        if self.auth.throttle(caller) > 0:
            return None  # the route answers 429 with Retry-After (anything the route answers
            # instead, it counts against the key itself: one token per request either way)
        decision = self.gate.decide(
            principal=ask.principal,
            action=ask.action,
            source=ask.source,
            resources=ask.resources,
            arguments=ask.arguments,
            key_id=caller.key_id,
        )
        return orjson.dumps(decision.to_json())


def binding_refusal(caller: Caller, principal: str) -> str:
    """Why a key bound to principals or accounts may not ask for `principal` ("" if it may):
    a bound key neither decides for nor learns the state of another principal."""
    binding = caller.binding()
    if not binding or caller.may_act_for(principal, account_of(principal)):
        return ""
    return f"{binding}; it may not ask for {principal}: use that principal's own key"


def _header(scope: MutableMapping[str, Any], name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _json(scope: MutableMapping[str, Any]) -> bool:
    """FastAPI (strict content type, its default) reads a body as JSON only under a JSON type."""
    value = _header(scope, b"content-type")
    if value is None:
        return False
    kind = value.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


def _replay(chunks: list[Message], receive: Receive) -> Receive:
    """A receive that first returns the messages already read, then reads on."""
    pending = list(chunks)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay
