"""verify_ledger: check Leash's own ledger tables against the ledger chains; name every batch
and row that was changed, removed or inserted, and every broken link or bad signature.

A row is what a ledger batch recorded (its key and digest over the columns it was inserted
with). Checked: each chain's links, hashes and signatures (ingest.chain.ChainWalk, as for ingest
batches); each recorded row against the stored one (changed), or its absence (removed -- unless
it is a version of a row the engine replaced by a newer one, see ingest.ledger.tables); and
each stored row no batch records (inserted -- unless it is a superseded version, or legacy:
dated before chaining began, counted against what the table held then, ledger_legacy).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ingest import schema
from ingest.chain import ChainLink, ChainWalk, encode_row, row_digest, rows_hash
from ingest.ledger.chain import LEDGER_COLUMNS, ledger_body
from ingest.ledger.tables import LEDGER_TABLES, LedgerTable
from ingest.signing import key_id_of
from ingest.store import Store

__all__ = ["LedgerReport", "verify_ledger"]


@dataclass
class LedgerReport:
    chains: int = 0
    batches: int = 0
    rows: int = 0  # stored rows checked against the batch that recorded them
    signed: int = 0  # batches whose signature verified under a given key
    legacy_batches: int = 0  # unsigned batches before their chain's first signature (strict off)
    legacy_rows: int = 0  # rows in no batch, written before chaining began
    pending: int = 0  # batch records read from a stopped process's journal, not yet stored
    chained: bool = True  # False: no Leash with a ledger chain has opened this store yet
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _Record:
    chain: str
    seq: int
    table: str
    columns: tuple[str, ...]
    keys: tuple[str, ...]
    digests: tuple[str, ...]
    listed: bool  # the row keys and digests are the ones its rows hash covers
    link: ChainLink

    @property
    def label(self) -> str:
        return f"ledger chain {self.chain} batch {self.seq} ({self.table})"


def verify_ledger(
    store: Store,
    public_keys: Sequence[Ed25519PublicKey] = (),
    *,
    strict: bool = True,
    pending: Iterable[Sequence[object]] = (),
    tables: Mapping[str, LedgerTable] = LEDGER_TABLES,
) -> LedgerReport:
    """Check every ledger chain and every ledger table (see module).

    `public_keys` and `strict` as for ingest.sink.verify.verify_store. `pending`: batch records
    (LEDGER_COLUMNS order) that a stopped process journaled but did not store yet; their rows
    are in the store, and its successor stores the records on start-up.
    """
    report = LedgerReport()
    if not store.query(f"EXISTS TABLE {schema.LEDGER_BATCHES}")[0][0]:
        report.chained = False  # migration 0009 has not run: every ledger row is legacy
        return report
    records = _records(store, pending, report)
    _walk(records, {key_id_of(k): k for k in public_keys}, strict, report)
    watermarks = _watermarks(store)
    for table in tables.values():
        claims = [r for r in records if r.table == table.name]
        _check_table(store, table, claims, watermarks.get(table.name, (0, -1)), report)
    return report


def _records(
    store: Store, pending: Iterable[Sequence[object]], report: LedgerReport
) -> list[_Record]:
    """Every batch record, once: a record stored twice (an insert retried after it had in fact
    succeeded) is one; two different records of one batch are a problem."""
    stored = store.query(
        f"SELECT {', '.join(LEDGER_COLUMNS)} FROM {schema.LEDGER_BATCHES} ORDER BY chain, seq"
    )
    seen: dict[tuple[str, int], _Record] = {}
    for journaled, rows in ((False, stored), (True, pending)):
        for row in rows:
            record = _record(row)
            known = seen.setdefault((record.chain, record.seq), record)
            if known is record:
                report.pending += journaled
            elif known != record:
                report.problems.append(f"{record.label}: two different records of this batch")
    return sorted(seen.values(), key=lambda r: (r.chain, r.seq))


def _record(row: Sequence[object]) -> _Record:
    chain, seq, batch_id, _, table, columns, _, keys, digests, hashed, prev, digest, signer, sig = (
        row
    )
    keys_t = tuple(str(k) for k in keys)  # type: ignore[attr-defined]
    digests_t = tuple(str(d) for d in digests)  # type: ignore[attr-defined]
    columns_t = tuple(str(c) for c in columns)  # type: ignore[attr-defined]
    return _Record(
        chain=str(chain),
        seq=int(seq),  # type: ignore[call-overload]
        table=str(table),
        columns=columns_t,
        keys=keys_t,
        digests=digests_t,
        listed=len(keys_t) == len(digests_t)
        and rows_hash(list(zip(keys_t, digests_t, strict=True))) == hashed,
        link=ChainLink(
            int(seq),  # type: ignore[call-overload]
            str(batch_id),
            ledger_body(str(table), columns_t, str(hashed)),
            str(prev),
            str(digest),
            str(signer),
            str(sig),
        ),
    )


def _walk(
    records: list[_Record],
    keys: Mapping[str, Ed25519PublicKey],
    strict: bool,
    report: LedgerReport,
) -> None:
    by_chain: dict[str, list[_Record]] = defaultdict(list)
    for record in records:
        by_chain[record.chain].append(record)
    for chain_records in by_chain.values():
        walk = ChainWalk(keys, strict=strict)
        for record in chain_records:
            report.problems.extend(walk.step(record.link, record.label))
            if not record.listed:
                report.problems.append(
                    f"{record.label}: its list of rows does not match its rows hash "
                    "(batch record altered)"
                )
        report.signed += walk.signed
        report.legacy_batches += walk.legacy
    report.chains += len(by_chain)
    report.batches += len(records)


def _watermarks(store: Store) -> dict[str, tuple[int, int]]:
    rows = store.query(
        f"SELECT table_name, max(row_count), max(mark_ns) FROM {schema.LEDGER_LEGACY} "
        "GROUP BY table_name"
    )
    return {str(name): (int(count), int(mark)) for name, count, mark in rows}


def _check_table(
    store: Store,
    table: LedgerTable,
    claims: list[_Record],
    watermark: tuple[int, int],
    report: LedgerReport,
) -> None:
    known = {str(r[0]) for r in store.query(f"DESCRIBE TABLE {table.name}")}
    readable = []
    for record in claims:
        if set(record.columns) <= known and set(table.key) <= set(record.columns):
            readable.append(record)
        else:
            report.problems.append(f"{record.label}: names columns {table.name} does not have")
    scans = {
        columns: _Scan.of(store, table, columns)
        for columns in {r.columns for r in readable} or {table.key}
    }
    claimed: set[str] = set()
    for record in readable:
        claimed.update(record.keys)
        _check_claims(record, scans[record.columns], table, report)
    scan = next(iter(scans.values()))  # every scan reads the same rows
    unclaimed = [k for k in scan.marks if k not in claimed and not scan.superseded(table, k)]
    count, mark = watermark
    old = [key for key in unclaimed if scan.marks[key] <= mark]
    new = [key for key in unclaimed if scan.marks[key] > mark]
    if new:
        report.problems.append(
            f"ledger {table.name}: {len(new)} row(s) in no ledger batch (inserted), e.g. {new[0]}"
        )
    if len(old) > count:
        report.problems.append(
            f"ledger {table.name}: {len(old)} row(s) in no ledger batch dated before chaining "
            f"began, when it held {count}: rows were inserted since, e.g. one of {old[0]}"
        )
    else:
        report.legacy_rows += len(old)


def _check_claims(record: _Record, scan: _Scan, table: LedgerTable, report: LedgerReport) -> None:
    removed: list[str] = []
    changed: list[str] = []
    for key, digest in zip(record.keys, record.digests, strict=False):
        found = scan.digests.get(key)
        if found is None:
            if not scan.superseded(table, key):
                removed.append(key)
        elif any(d != digest for d in found):
            changed.append(key)
        else:
            report.rows += 1
    if removed:
        report.problems.append(f"{record.label}: {len(removed)} row(s) removed, e.g. {removed[0]}")
    if changed:
        report.problems.append(
            f"{record.label}: {len(changed)} row(s) changed since written, e.g. {changed[0]}"
        )


@dataclass
class _Scan:
    """A ledger table as stored (every row, every version not yet merged away): each row's
    digest over `columns`, its mark, and the newest version of each versioned row."""

    digests: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    marks: dict[str, int] = field(default_factory=dict)
    newest: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, store: Store, table: LedgerTable, columns: tuple[str, ...]) -> _Scan:
        """`columns` are real columns of the table (checked), holding every key column."""
        names = ", ".join(f"`{c}`" for c in columns)
        at = [columns.index(name) for name in table.key]
        scan = cls()
        for mark, *values in store.query(f"SELECT {table.mark}, {names} FROM {table.name}"):
            key_values = [values[i] for i in at]
            key = table.row_key(key_values)
            scan.digests[key].append(row_digest(key, encode_row(values)))
            scan.marks[key] = int(mark)
            if table.versioned:
                row_id, version = str(key_values[0]), int(key_values[-1])
                scan.newest[row_id] = max(scan.newest.get(row_id, -1), version)
        return scan

    def superseded(self, table: LedgerTable, key: str) -> bool:
        """A version of a row that a newer stored version replaces (merges may drop it)."""
        if not table.versioned:
            return False
        row_id, _, version = key.rpartition("@")
        return version.isdigit() and self.newest.get(row_id, -1) > int(version)
