"""Bearer-token auth with scopes; tokens compare in constant time and are never logged."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from fastapi import HTTPException, Request, status

__all__ = ["Authenticator", "Caller"]


@dataclass(frozen=True)
class Caller:
    """The caller behind a key: a short fingerprint (never the token) and its scopes."""

    key_id: str
    scopes: frozenset[str]


class Authenticator:
    def __init__(self, keys: Mapping[str, frozenset[str]]) -> None:
        self._keys = [(token.encode(), scopes) for token, scopes in keys.items()]

    def identify(self, authorization: str | None) -> Caller | None:
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        presented = token.strip().encode()
        match: Caller | None = None
        for known, scopes in self._keys:  # check every key: timing does not reveal which matched
            if hmac.compare_digest(known, presented):
                match = Caller(key_id=_fingerprint(known), scopes=scopes)
        return match

    def require(self, scope: str) -> Callable[[Request], Caller]:
        def dependency(request: Request) -> Caller:
            if not self._keys:
                raise HTTPException(
                    status.HTTP_401_UNAUTHORIZED,
                    "no API keys are configured: set LEASH_API_KEYS=token:scope+scope",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            caller = self.identify(request.headers.get("authorization"))
            if caller is None:
                raise HTTPException(
                    status.HTTP_401_UNAUTHORIZED,
                    "missing or unknown API key: send 'Authorization: Bearer <token>'",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            if scope not in caller.scopes:
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN, f"this API key lacks the '{scope}' scope"
                )
            request.state.caller = caller
            return caller

        return dependency


def _fingerprint(token: bytes) -> str:
    import hashlib

    return "key_" + hashlib.sha256(token).hexdigest()[:10]
