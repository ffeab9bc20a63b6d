"""verify_store: recompute the hash chain of ingest batches and check their signatures; name
every batch that was altered, and any signature that is missing, bad or by a key not given."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ingest import schema
from ingest.chain import ChainLink, ChainWalk, row_digest, rows_hash
from ingest.signing import key_id_of
from ingest.store import Store

__all__ = ["VerifyReport", "verify_store"]


@dataclass
class VerifyReport:
    batches: int = 0
    rows: int = 0
    signed: int = 0  # batches whose signature verified under a given key
    legacy: int = 0  # unsigned batches older than their chain's first signature (strict off)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_store(
    store: Store, public_keys: Sequence[Ed25519PublicKey] = (), *, strict: bool = True
) -> VerifyReport:
    """Check every chain: links between batches, and each batch's rows against the events table.

    With `public_keys`, every batch must also carry a signature of its hash by one of them: an
    unsigned batch, a bad signature, or one by another key (a chain rewritten and re-signed by
    whoever holds another key) is a problem of that batch. With `strict` False, unsigned batches
    before a chain's first signed one are counted as `legacy` (written before Leash signed),
    not as problems; an unsigned batch after a signed one always is.
    """
    keys = {key_id_of(k): k for k in public_keys}
    report = VerifyReport()
    current: dict[str, str] = {}
    for event_id, raw in store.query(f"SELECT event_id, raw FROM {schema.EVENTS} FINAL"):
        current[str(event_id)] = row_digest(str(event_id), str(raw))
    batches = store.query(
        f"SELECT chain, seq, batch_id, event_ids, rows_hash, prev_hash, hash, signer, signature "
        f"FROM {schema.BATCHES} ORDER BY chain, seq"
    )
    by_chain: dict[str, list[tuple[object, ...]]] = defaultdict(list)
    for row in batches:
        by_chain[str(row[0])].append(row)
    for chain, rows in by_chain.items():
        walk = ChainWalk(keys, strict=strict)
        for _, seq, batch_id, event_ids, stored_rows, prev_hash, digest, signer, sig in rows:
            link = ChainLink(
                int(seq),  # type: ignore[call-overload]
                str(batch_id),
                str(stored_rows),
                str(prev_hash),
                str(digest),
                str(signer),
                str(sig),
            )
            label = f"chain {chain} batch {link.seq} ({link.batch_id})"
            report.batches += 1
            report.problems.extend(walk.step(link, label))
            ids = [str(e) for e in event_ids]  # type: ignore[attr-defined]
            missing = [e for e in ids if e not in current]
            if missing:
                report.problems.append(
                    f"{label}: {len(missing)} row(s) removed, e.g. event_id {missing[0]}"
                )
            elif rows_hash([(e, current[e]) for e in ids]) != link.body:
                report.problems.append(f"{label}: row content changed since ingest")
            report.rows += len(ids)
        report.signed += walk.signed
        report.legacy += walk.legacy
    return report
