"""Ledger benchmark: what chaining Leash's own ledger costs, and where.

On a real chDB store, with the gate's decision rows:
- the decide path's part: `JournaledWriter.add` per row (unchanged by chaining: rows are only
  queued and journaled there);
- the flush's part: digesting rows for the chain (`digest_rows`), per row;
- one flush of a 5-second batch of decisions (2,500 rows at 500 decide/s) into the store,
  plain and through the LedgerStore (digests + one signed batch record, journaled);
- `verify_ledger` over the stored ledger, rows per second.

    python -m bench.ledger_chain --rows 2500 --repeat 7
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import detect.gate.service as decisions_mod
from ingest import schema
from ingest.ledger import LEDGER_TABLES, open_ledger, verify_ledger
from ingest.ledger.chain import digest_rows
from ingest.migrate import apply_migrations
from ingest.signing import ChainSigner
from ingest.store import Store
from ingest.store.chdb import ChdbStore
from ingest.store.journal import JournaledWriter, JournalFolder

SIGNER = ChainSigner(Ed25519PrivateKey.generate())
AT = datetime(2026, 12, 3, 1, 2, 3, 456000, tzinfo=UTC)


def decision_rows(n: int, tag: str) -> list[tuple[object, ...]]:
    return [
        (
            f"dec_{tag}_{i:08d}",
            AT,
            "arn:aws:sts::123456789012:assumed-role/bench-agent/agent-run-0001a",
            "arn:aws:sts::123456789012:assumed-role/bench-agent",
            "agent",
            "rds.amazonaws.com",
            "DeleteDBInstance",
            "destructive",
            [f"arn:aws:rds:us-east-1:123456789012:db:prod-{i}"],
            "require_approval",
            "destructive action by a non-human (agent) principal: agents ask first",
            "agent_default",
            f"apr_{i:020d}",
            "key_0123456789",
        )
        for i in range(n)
    ]


def timed(run: Callable[[], object], repeat: int) -> list[float]:
    """Seconds of each run."""
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        out.append(time.perf_counter() - start)
    return out


def flush_seconds(store: Store, journal: Path, rows: int, repeat: int, tag: str) -> list[float]:
    """Seconds of each flush of `rows` decisions queued in a JournaledWriter over `store`."""
    writer = JournaledWriter(
        store,
        table=schema.DECISIONS,
        columns=decisions_mod.COLUMNS,
        journal_dir=journal,
        journal_folder=JournalFolder(journal),
        interval_s=3600,
    )
    writer.recover()
    out = []
    for n in range(repeat):
        for row in decision_rows(rows, f"{tag}{n}"):
            writer.add(row)
        start = time.perf_counter()
        writer.flush()
        out.append(time.perf_counter() - start)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=2500, help="decisions per flush")
    parser.add_argument("--repeat", type=int, default=7, help="runs of each measure")
    args = parser.parse_args()
    rows = decision_rows(args.rows, "x")
    spec = LEDGER_TABLES[schema.DECISIONS]
    med = statistics.median
    with tempfile.TemporaryDirectory() as tmp, ChdbStore(None) as store:
        apply_migrations(store)
        root = Path(tmp)
        adder = JournaledWriter(
            store,
            table=schema.DECISIONS,
            columns=decisions_mod.COLUMNS,
            journal_dir=root / "add",
            journal_folder=JournalFolder(root / "add"),
            interval_s=3600,
        )
        adder.recover()

        def add_all() -> None:
            for row in rows:
                adder.add(row)

        add = timed(add_all, args.repeat)
        print(f"decide path, JournaledWriter.add: {med(add) / len(rows) * 1e6:.2f} µs/row")
        digest = timed(lambda: digest_rows(spec, rows, decisions_mod.COLUMNS), args.repeat)
        print(f"flush, digest_rows: {med(digest) / len(rows) * 1e6:.2f} µs/row")
        plain = flush_seconds(store, root / "plain", args.rows, args.repeat, "p")
        store.command("DELETE FROM decisions WHERE startsWith(decision_id, 'dec_p')")  # unchained
        ledger = open_ledger(
            store, journal_dir=root / "ledger", journal_folder=JournalFolder(root / "ledger"),
            signer=SIGNER, flush_s=3600,
        )  # fmt: skip
        chained = flush_seconds(ledger, root / "chained", args.rows, args.repeat, "c")
        start = time.perf_counter()
        ledger.stop()  # the batch records' own insert (one per 5 s in a running Leash)
        records_s = time.perf_counter() - start
        print(
            f"flush of {args.rows} decisions: plain {med(plain) * 1e3:.1f} ms "
            f"(range {min(plain) * 1e3:.1f}-{max(plain) * 1e3:.1f}), chained "
            f"{med(chained) * 1e3:.1f} ms (range {min(chained) * 1e3:.1f}-"
            f"{max(chained) * 1e3:.1f}); +{(med(chained) - med(plain)) / args.rows * 1e6:.2f} "
            f"µs/row; the {args.repeat} batch records' insert {records_s * 1e3:.1f} ms"
        )
        start = time.perf_counter()
        report = verify_ledger(store, [SIGNER.public], strict=False)
        took = time.perf_counter() - start
        checked = report.rows + report.legacy_rows
        print(
            f"verify_ledger: {checked} rows, {report.batches} batches in {took:.2f} s "
            f"({checked / took:,.0f} rows/s), problems: {report.problems or 'none'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
