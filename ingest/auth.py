"""Bearer-token auth with scopes; tokens compare in constant time and are never logged."""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from fastapi import HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ingest.events import AuditEvent, Origin
from ingest.keys import KeyEntry, binds, token_digest

__all__ = ["BEARER", "Authenticator", "BindingCheck", "Caller", "binding_check"]

_BEARER_HOW = "send 'Authorization: Bearer <token>'"
# declares the scheme in /openapi.json (Swagger's "Authorize"); checking stays in `require`
BEARER = HTTPBearer(
    scheme_name="LeashKey",
    description="A Leash API key (LEASH_API_KEYS token:scope+scope; `leash up` writes an admin "
    "key to <data dir>/admin.key). Scopes: ingest, read, admin.",
    auto_error=False,
)


@dataclass(frozen=True)
class Caller:
    """The caller behind a key: a short fingerprint (never the token), its scopes, and the key
    (its name and any principal or account binding)."""

    key_id: str
    scopes: frozenset[str]
    key: KeyEntry | None = None

    def may_act_for(self, principal: str, account: str) -> bool:
        """A bound key acts only for its principals and accounts; an unbound one for any."""
        return self.key is None or self.key.binds(principal, account)

    def binding(self) -> str:
        return self.key.binding() if self.key is not None and self.key.bound else ""

    def origin(self, channel: str) -> Origin:
        """What this caller's pushes over `channel` (http, firehose, ...) are stamped with."""
        name = self.key.name if self.key is not None else self.key_id
        return Origin(f"{channel}:{name}", self.key is not None and self.key.trusts)


class Authenticator:
    """Identifies callers by key, checks scopes, and rate-limits per key: a token bucket of
    `rate_per_s` requests per second (a key's own `rate_per_s` overrides it; 0 = unlimited)
    holding up to one second's worth, answered 429 with Retry-After when empty."""

    def __init__(
        self,
        keys: Sequence[KeyEntry],
        *,
        rate_per_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys = list(keys)
        self._rate = rate_per_s
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, at)
        self._bucket_lock = threading.Lock()

    def throttle(self, caller: Caller) -> float:
        """Take one request from the caller's bucket: 0 if allowed, else seconds to wait."""
        rate = (
            self._rate
            if caller.key is None or caller.key.rate_per_s is None
            else (caller.key.rate_per_s)
        )
        if rate <= 0:
            return 0.0
        burst = max(rate, 1.0)
        now = self._clock()
        with self._bucket_lock:
            tokens, at = self._buckets.get(caller.key_id, (burst, now))
            tokens = min(burst, tokens + (now - at) * rate)
            if tokens < 1.0:
                self._buckets[caller.key_id] = (tokens, now)
                return (1.0 - tokens) / rate
            self._buckets[caller.key_id] = (tokens - 1.0, now)
            return 0.0

    def identify(self, authorization: str | None) -> Caller | None:
        """The caller behind an `Authorization: Bearer <token>` header value, if any."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        return self.identify_token(token)

    def identify_token(self, token: str | None) -> Caller | None:
        """The caller behind a bare token (a key header such as X-Amz-Firehose-Access-Key)."""
        if not token:
            return None
        presented = token_digest(token)  # keys are kept as SHA-256 digests, never as tokens
        match: Caller | None = None
        for key in self._keys:  # check every key: timing does not reveal which matched
            if hmac.compare_digest(key.digest, presented):
                match = Caller(key_id=key.key_id, scopes=key.scopes, key=key)
        return match

    def authorize(self, caller: Caller | None, scope: str, *, how: str = _BEARER_HOW) -> Caller:
        """`caller` if it holds `scope`; else 401 (no keys, no or unknown key) or 403.

        `how` tells the client how to send a key; it ends the 401 message.
        """
        if not self._keys:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "no API keys are configured: set LEASH_API_KEYS=token:scope+scope",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if caller is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                f"missing or unknown API key: {how}",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if scope not in caller.scopes:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this API key lacks the '{scope}' scope"
            )
        wait_s = self.throttle(caller)
        if wait_s > 0:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"rate limit of key {caller.key_id} reached: retry after the Retry-After seconds "
                "(LEASH_RATE_LIMIT_PER_S, or rate_per_s in the keys file)",
                headers={"Retry-After": str(max(1, math.ceil(wait_s)))},
            )
        return caller

    def require_inline(self, scope: str) -> Callable[..., Awaitable[Caller]]:
        """`require` for hot routes (decide, POST /v1/events): an async dependency, run on the
        event loop instead of a worker thread -- the hop cost the loop 0.2-0.3 ms of GIL per
        request (py-spy at 5k events/s); the check itself (a hash, a compare per key) takes
        microseconds."""
        check = self.require(scope)

        async def dependency(
            request: Request,
            _: HTTPAuthorizationCredentials | None = Security(BEARER),  # noqa: B008 - FastAPI
        ) -> Caller:
            return check(request)

        return dependency

    def require(self, scope: str, *, key_header: str | None = None) -> Callable[[Request], Caller]:
        """A dependency that admits a Bearer key, or one in `key_header`, holding `scope`."""
        how = _BEARER_HOW if key_header is None else f"{_BEARER_HOW} or '{key_header}: <token>'"

        def dependency(
            request: Request,
            _: HTTPAuthorizationCredentials | None = Security(BEARER),  # noqa: B008 - FastAPI
        ) -> Caller:
            caller = self.identify(request.headers.get("authorization"))
            if caller is None and key_header is not None:
                caller = self.identify_token(request.headers.get(key_header))
            caller = self.authorize(caller, scope, how=how)
            request.state.caller = caller
            return caller

        return dependency


@dataclass(frozen=True)
class BindingCheck:
    """A bound key's check of each record it pushes: why the event is not the key's to send,
    or "". Plain data, so the parse pool's processes can run it (ingest.parsepool)."""

    binding: str  # KeyEntry.binding(): what the key is bound to, in words
    principals: tuple[str, ...]
    accounts: tuple[str, ...]

    def __call__(self, event: AuditEvent) -> str:
        if binds(self.principals, self.accounts, event.principal, event.account):
            return ""
        return (
            f"{self.binding}; this record's principal is {event.principal} in account "
            f"{event.account}: send it with a key bound to that principal"
        )


def binding_check(caller: Caller) -> BindingCheck | None:
    """For a key bound to principals or accounts: why an event is not the key's to send."""
    key = caller.key
    if key is None or not key.bound:
        return None
    return BindingCheck(key.binding(), key.principals, key.accounts)
