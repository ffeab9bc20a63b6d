"""Hash-chain primitives shared by every chain Leash keeps: row digests (and the canonical text of
a stored row), a batch's rows hash, the link of a batch to the one before it (CloudTrail-digest
style), and ChainWalk, which checks a chain's links and signatures."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ingest.signing import signature_valid

__all__ = [
    "GENESIS_HASH",
    "ChainLink",
    "ChainWalk",
    "chain_hash",
    "encode_row",
    "row_digest",
    "rows_hash",
]

GENESIS_HASH = "0" * 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_EXACT_FLOAT = 2**53  # beyond this a whole float is not an exact int


def row_digest(event_id: str, raw: str) -> str:
    return hashlib.sha256(f"{event_id}\x00{raw}".encode()).hexdigest()


def encode_row(values: Sequence[object]) -> str:
    """A stored row's values as canonical JSON: the same text for the row as written and as read
    back from either store. Datetimes become whole epoch ms (DateTime64(3) keeps no more, and
    both stores floor), bools 0/1, whole floats ints (a Float64 column reads back 1.0 for 1)."""
    plain = [_plain(v) for v in values]
    try:
        return orjson.dumps(plain).decode()
    except TypeError:  # e.g. a lone surrogate orjson refuses: still one text for both sides
        return json.dumps(plain, ensure_ascii=True, separators=(",", ":"), default=str)


def _plain(value: object) -> object:
    kind = type(value)
    if kind is str or kind is int:
        return value
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return (aware - _EPOCH) // _MS
    if kind is bool:
        return 1 if value else 0
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < _EXACT_FLOAT else value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def rows_hash(digests: Sequence[tuple[str, str]]) -> str:
    """Order-independent hash of a batch's rows: sha256 over digests sorted by event id."""
    h = hashlib.sha256()
    for event_id, digest in sorted(digests):
        h.update(f"{event_id}:{digest}\n".encode())
    return h.hexdigest()


def chain_hash(prev_hash: str, seq: int, batch_id: str, rows: str) -> str:
    return hashlib.sha256(f"{prev_hash}|{seq}|{batch_id}|{rows}".encode()).hexdigest()


@dataclass(frozen=True)
class ChainLink:
    """What a stored batch record says of its place in the chain: `body` is what its hash
    covers besides the link (the rows hash), `hash` = chain_hash(prev_hash, seq, batch_id, body)."""

    seq: int
    batch_id: str
    body: str
    prev_hash: str
    hash: str
    signer: str
    signature: str


class ChainWalk:
    """Checks one chain's batch records, fed in sequence order to `step`.

    Each batch must follow the previous one (seq + 1, prev_hash = the previous hash), its hash
    must be its own, and -- with `keys` (key id -> public key) -- it must carry a valid signature
    by one of them. With `strict` False, unsigned batches before the chain's first signed one
    are counted as `legacy` (written before Leash signed), not as problems; an unsigned batch
    after a signed one always is one. `signed` counts signatures that verified.
    """

    def __init__(self, keys: Mapping[str, Ed25519PublicKey], *, strict: bool) -> None:
        self._keys = keys
        self._prev, self._expected_seq, self._signing = GENESIS_HASH, 1, strict
        self.signed = 0
        self.legacy = 0

    def step(self, link: ChainLink, label: str) -> list[str]:
        """The problems of this batch record (each starts with `label`)."""
        problems = []
        if link.seq != self._expected_seq:
            problems.append(f"{label}: sequence gap, expected batch {self._expected_seq}")
        if link.prev_hash != self._prev:
            problems.append(f"{label}: previous-hash link broken (batch removed or edited)")
        if chain_hash(link.prev_hash, link.seq, link.batch_id, link.body) != link.hash:
            problems.append(f"{label}: batch record itself was altered")
        self._signing = self._signing or bool(link.signature)
        if self._keys and not self._signing:
            self.legacy += 1
        elif self._keys:
            problems.extend(self._signature_problems(link, label))
        self._prev, self._expected_seq = link.hash, link.seq + 1
        return problems

    def _signature_problems(self, link: ChainLink, label: str) -> list[str]:
        if not link.signature:
            return [f"{label}: unsigned (its signature was removed, or an unsigned sink wrote it)"]
        if link.signer not in self._keys:
            return [
                f"{label}: signed by {link.signer or 'an unnamed key'}, not by a key given "
                f"({', '.join(sorted(self._keys))}): the chain was re-signed, or pass that "
                "sink's key too"
            ]
        if not signature_valid(self._keys[link.signer], link.hash, link.signature):
            return [f"{label}: bad signature (the batch record or its signature was altered)"]
        self.signed += 1
        return []
