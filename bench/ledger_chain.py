"""Ledger benchmark: what chaining Leash's own ledger costs, and where.

On a real chDB store, with the gate's decision rows:
- the decide path's part: `JournaledWriter.add` per row (unchanged by chaining: rows are only
  queued and journaled there), alone and beside a thread busy with pure-Python work (the sink
  decoding a batch): how long each add takes at the 99th percentile and at worst -- an add that
  gives up the GIL (a `write` call) waits for that thread to hand it back;
- the flush's part: digesting rows for the chain (`digest_rows`), per row;
- flushes of a 5-second batch of decisions (2,500 rows at 500 decide/s) into the store, plain
  and through the LedgerStore (digests + one signed batch record, journaled), taking turns,
  with the worst lateness of a thread that wants to wake every millisecond meanwhile (the GIL
  the flush holds is what the API's event loop waits for);
- `verify_ledger` over the stored ledger, rows per second.

    python -m bench.ledger_chain --rows 2500 --repeat 7
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

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


class _Beside:
    """A daemon thread running `_run` until the `with` block ends."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        raise NotImplementedError


class Ticker(_Beside):
    """A thread that wants to wake every millisecond (standing in for the API's event loop):
    the most it woke late while running, in seconds."""

    def __init__(self) -> None:
        self.worst = 0.0
        super().__init__()

    def _run(self) -> None:
        while not self._stop.is_set():
            due = time.perf_counter() + 0.001
            time.sleep(0.001)
            self.worst = max(self.worst, time.perf_counter() - due)


class Busy(_Beside):
    """A thread that holds the GIL with pure-Python work while it runs (the sink's decoding)."""

    def _run(self) -> None:
        while not self._stop.is_set():
            sum(i * i for i in range(2000))


def adds_beside_busy(writer: JournaledWriter, rows: list[tuple[object, ...]]) -> list[float]:
    """Seconds each `add` took, one row a millisecond, while a Busy thread runs."""
    took = []
    with Busy():
        for row in rows:
            start = time.perf_counter()
            writer.add(row)
            took.append(time.perf_counter() - start)
            time.sleep(0.001)
    return took


def decisions_writer(store: Store, journal: Path) -> JournaledWriter:
    writer = JournaledWriter(
        store,
        table=schema.DECISIONS,
        columns=decisions_mod.COLUMNS,
        journal_dir=journal,
        journal_folder=JournalFolder(journal),
        interval_s=3600,
    )
    writer.recover()
    return writer


def flushes(
    writers: dict[str, JournaledWriter], rows: int, repeat: int
) -> dict[str, list[tuple[float, float]]]:
    """(seconds, worst ticker lateness) of each flush of `rows` queued decisions, the writers
    taking turns so that a machine busy with other work weighs on both alike."""
    out: dict[str, list[tuple[float, float]]] = {name: [] for name in writers}
    for n in range(repeat):
        for name, writer in writers.items():
            for row in decision_rows(rows, f"{name}{n}"):
                writer.add(row)
            with Ticker() as ticker:
                start = time.perf_counter()
                writer.flush()
                took = time.perf_counter() - start
            out[name].append((took, ticker.worst))
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
        busy = sorted(adds_beside_busy(adder, rows[: min(len(rows), 2000)]))
        print(
            f"decide path, JournaledWriter.add beside a busy thread, {len(busy)} adds 1 ms "
            f"apart: p50 {busy[len(busy) // 2] * 1e6:.0f} µs, p99 "
            f"{busy[int(len(busy) * 0.99)] * 1e6:.0f} µs, max {busy[-1] * 1e6:.0f} µs"
        )
        digest = timed(lambda: digest_rows(spec, rows, decisions_mod.COLUMNS), args.repeat)
        print(f"flush, digest_rows: {med(digest) / len(rows) * 1e6:.2f} µs/row")
        ledger = open_ledger(
            store, journal_dir=root / "ledger", journal_folder=JournalFolder(root / "ledger"),
            signer=SIGNER, flush_s=3600,
        )  # fmt: skip
        runs = flushes(
            {
                "plain": decisions_writer(store, root / "plain"),
                "chained": decisions_writer(ledger, root / "chained"),
            },
            args.rows,
            args.repeat,
        )
        store.command("DELETE FROM decisions WHERE startsWith(decision_id, 'dec_plain')")
        start = time.perf_counter()
        ledger.stop()  # the batch records' own insert (one per 5 s in a running Leash)
        records_s = time.perf_counter() - start
        for name, results in runs.items():
            took = [r[0] * 1e3 for r in results]
            late = [r[1] * 1e3 for r in results]
            print(
                f"flush of {args.rows} decisions, {name}: median {med(took):.1f} ms (range "
                f"{min(took):.1f}-{max(took):.1f}); a 1-ms ticker's worst lateness median "
                f"{med(late):.1f} ms (range {min(late):.1f}-{max(late):.1f})"
            )
        added = med(r[0] for r in runs["chained"]) - med(r[0] for r in runs["plain"])
        print(
            f"chaining adds {added / args.rows * 1e6:.2f} µs per flushed row; the "
            f"{args.repeat} batch records' own insert took {records_s * 1e3:.1f} ms"
        )
        start = time.perf_counter()
        report = verify_ledger(store, [SIGNER.public], strict=False)
        verify_s = time.perf_counter() - start
        checked = report.rows + report.legacy_rows
        print(
            f"verify_ledger: {checked} rows, {report.batches} batches in {verify_s:.2f} s "
            f"({checked / verify_s:,.0f} rows/s), problems: {report.problems or 'none'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
