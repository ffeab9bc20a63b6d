"""Hash-chain primitives shared by every chain Leash keeps: row digests, a batch's rows hash and
the link of a batch to the one before it (CloudTrail-digest style)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["GENESIS_HASH", "chain_hash", "row_digest", "rows_hash"]

GENESIS_HASH = "0" * 64


def row_digest(event_id: str, raw: str) -> str:
    return hashlib.sha256(f"{event_id}\x00{raw}".encode()).hexdigest()


def rows_hash(digests: Sequence[tuple[str, str]]) -> str:
    """Order-independent hash of a batch's rows: sha256 over digests sorted by event id."""
    h = hashlib.sha256()
    for event_id, digest in sorted(digests):
        h.update(f"{event_id}:{digest}\n".encode())
    return h.hexdigest()


def chain_hash(prev_hash: str, seq: int, batch_id: str, rows: str) -> str:
    return hashlib.sha256(f"{prev_hash}|{seq}|{batch_id}|{rows}".encode()).hexdigest()
