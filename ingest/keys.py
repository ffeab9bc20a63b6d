"""API keys: from LEASH_API_KEYS (token:scope+scope) and a keys file (LEASH_KEYS_FILE, YAML).

A keys file names each key, stores only the SHA-256 of its token (a plaintext `token` is
allowed for local use), grants scopes, and may bind the key to principals and accounts (glob
patterns): a bound key ingests and asks `decide` only for those.

```yaml
keys:
  - name: deploy-agent
    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    scopes: [ingest]
    principals: ["arn:aws:sts::123456789012:assumed-role/deploy-agent/*"]
    rate_per_s: 50               # optional; default LEASH_RATE_LIMIT_PER_S (0: unlimited)
  - name: trail-collector
    sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
    scopes: [ingest]
    trusted: true                # automatic quarantine may act on what this key pushes
  - name: dashboards
    token: local-read-key        # plaintext: local use only
    scopes: [read]
```
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.yamlfile import string_list, yaml_list

__all__ = ["SCOPES", "KeyEntry", "KeysFileError", "binds", "load_keys_file", "token_digest"]

SCOPES = ("ingest", "read", "admin")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class KeysFileError(ValueError):
    """The keys file cannot be used; the message names the file, the key and the fix."""


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.strip().encode()).digest()


@dataclass(frozen=True)
class KeyEntry:
    """One key: its name, the SHA-256 of its token, scopes, and optional bindings."""

    name: str
    digest: bytes
    scopes: frozenset[str]
    principals: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    rate_per_s: float | None = None  # requests per second (None: LEASH_RATE_LIMIT_PER_S)
    trusted: bool | None = None  # None: the default of `trusts`

    @property
    def trusts(self) -> bool:
        """Whether automatic quarantine and revocation may act on events this key pushes.

        Set per key (`trusted:` in the keys file, LEASH_TRUSTED_KEYS); by default only an admin
        key (it may quarantine anyone by itself) and a key bound to principals (what it pushes
        can only be about those) are trusted. Any other ingest key could forge records of any
        agent: its events still raise alerts, but the alerts do not act.
        """
        if self.trusted is not None:
            return self.trusted
        return "admin" in self.scopes or bool(self.principals)

    @property
    def key_id(self) -> str:
        """A short fingerprint of the token (never the token): `key_` + 10 hex digits."""
        return "key_" + self.digest.hex()[:10]

    @classmethod
    def from_token(cls, token: str, scopes: frozenset[str], name: str = "") -> KeyEntry:
        """A key given as its token (LEASH_API_KEYS); unnamed keys go by their fingerprint."""
        digest = token_digest(token)
        return cls(name or "key_" + digest.hex()[:10], digest, _with_implied(scopes))

    @property
    def bound(self) -> bool:
        return bool(self.principals or self.accounts)

    def binds(self, principal: str, account: str) -> bool:
        """Whether this key may act for `principal` in `account` (an unbound key: always)."""
        return binds(self.principals, self.accounts, principal, account)

    def binding(self) -> str:
        parts = []
        if self.principals:
            parts.append(f"principals {', '.join(self.principals)}")
        if self.accounts:
            parts.append(f"accounts {', '.join(self.accounts)}")
        return f"key '{self.name}' is bound to " + " and ".join(parts)


def binds(principals: Sequence[str], accounts: Sequence[str], principal: str, account: str) -> bool:
    """Whether a binding to `principals` and `accounts` (fnmatch patterns; none: any) covers
    `principal` in `account`."""
    if principals and not any(fnmatch.fnmatchcase(principal, p) for p in principals):
        return False
    return not accounts or any(fnmatch.fnmatchcase(account, a) for a in accounts)


def _with_implied(scopes: frozenset[str]) -> frozenset[str]:
    return frozenset(SCOPES) if "admin" in scopes else scopes


def load_keys_file(path: Path) -> list[KeyEntry]:
    """The keys of a YAML keys file; KeysFileError says what is wrong and where."""
    items = yaml_list(path, "keys", "keys file", KeysFileError)
    entries, names = [], set()
    for index, item in enumerate(items):
        entry = _entry(path, index, item)
        if entry.name in names:
            raise KeysFileError(f"keys file {path}: key name '{entry.name}' is used twice")
        names.add(entry.name)
        entries.append(entry)
    return entries


def _entry(path: Path, index: int, item: Any) -> KeyEntry:
    where = f"keys file {path}, key {index}"
    if not isinstance(item, dict):
        raise KeysFileError(f"{where}: expected a mapping with name, sha256 or token, scopes")
    name = str(item.get("name") or "").strip()
    if not name:
        raise KeysFileError(f"{where}: give the key a name")
    where = f"keys file {path}, key '{name}'"
    sha, token = item.get("sha256"), item.get("token")
    if (sha is None) == (token is None):
        raise KeysFileError(
            f"{where}: give exactly one of sha256 (printf %s TOKEN | sha256sum) or token"
        )
    if sha is not None:
        text = str(sha).strip().lower()
        if not _HEX64.match(text):
            raise KeysFileError(f"{where}: sha256 must be 64 hex digits, the token's SHA-256")
        digest = bytes.fromhex(text)
    else:
        if not str(token).strip():
            raise KeysFileError(f"{where}: token is empty")
        digest = token_digest(str(token))
    scopes = item.get("scopes")
    if not isinstance(scopes, list) or not scopes:
        raise KeysFileError(f"{where}: scopes must be a list, e.g. [ingest] or [read]")
    unknown = {str(s) for s in scopes} - set(SCOPES)
    if unknown:
        raise KeysFileError(f"{where}: unknown scope(s) {sorted(unknown)}; use {list(SCOPES)}")
    trusted = item.get("trusted")
    if trusted is not None and not isinstance(trusted, bool):
        raise KeysFileError(f"{where}: trusted must be true or false")
    rate = item.get("rate_per_s")
    if rate is not None and (not isinstance(rate, int | float) or rate < 0):
        raise KeysFileError(f"{where}: rate_per_s must be a number of requests per second >= 0")
    globs = {
        field: string_list(item, field, where, KeysFileError, "glob patterns")
        for field in ("principals", "accounts")
    }
    return KeyEntry(
        name=name,
        digest=digest,
        scopes=_with_implied(frozenset(str(s) for s in scopes)),
        principals=globs["principals"],
        accounts=globs["accounts"],
        rate_per_s=None if rate is None else float(rate),
        trusted=trusted,
    )
