"""Leash's own ledger, chained and signed per process: `verify_ledger` names the table and the
batch (or row) of every ledger row changed, removed or inserted after it was written, every
broken link and every signature that is missing, bad or by another key -- and none where Leash
itself replaced a row by a newer version, or where a killed process's journal was replayed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import detect.gate.service as decisions_mod
from detect.alerts.alert import Alert, AlertStore
from detect.alerts.suppression import EventMemo, SuppressionBook, record_false_positive
from detect.gate.approvals import ApprovalBook
from detect.gate.policy import GateRequest
from detect.response.principals import PrincipalRegistry
from ingest import schema
from ingest.ledger import LedgerReport, LedgerStore, open_ledger, verify_ledger
from ingest.migrate import apply_migrations, discover_migrations
from ingest.signing import ChainSigner
from ingest.store.chdb import ChdbStore
from ingest.store.journal import JournaledWriter, JournalFolder, unrecovered_rows
from tests.unit.ingest.store.test_journal import decision_row

LEASH = ChainSigner(Ed25519PrivateKey.generate())
THIEF = ChainSigner(Ed25519PrivateKey.generate())
AGENT = "arn:aws:sts::123456789012:assumed-role/deploy-agent/run-1"
ALERT = Alert(
    id="al_1",
    created_at_ms=1_764_000_000_000,
    updated_at_ms=1_764_000_000_000,
    principal=AGENT,
    actor_kind="agent",
    kind="rule",
    rule="mass_delete",
    severity="high",
    score=0.9,
    status="open",
    first_event_ms=1_764_000_000_000,
    last_event_ms=1_764_000_000_000,
    event_count=3,
    event_ids=("e1", "e2", "e3"),
    summary="3 deletes",
    explanation={"why": "burst"},
)


class Process:
    """One Leash process's journal folder; `die` releases it the way a kill -9 does."""

    def __init__(self, root: Path) -> None:
        self.folder = JournalFolder(root)

    def die(self) -> None:
        self.folder.close()

    def ledger(self, store: ChdbStore, root: Path, signer: ChainSigner = LEASH) -> LedgerStore:
        return open_ledger(
            store, journal_dir=root, journal_folder=self.folder, signer=signer, flush_s=3600
        )

    def decisions(self, ledger: LedgerStore, root: Path) -> JournaledWriter:
        return JournaledWriter(
            ledger,
            table=schema.DECISIONS,
            columns=decisions_mod.COLUMNS,
            journal_dir=root,
            journal_folder=self.folder,
            interval_s=3600,
        )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "journal"


def write_ledger(ledger: LedgerStore, root: Path, process: Process, *, tag: str = "") -> None:
    """What a day of Leash writes: decisions (journaled), an approval asked, granted and used,
    an alert that grows and is acknowledged, a quarantine, a suppression added and lifted, and
    an analyst's false-positive verdict."""
    decisions = process.decisions(ledger, root).start()
    for n in range(6):
        decisions.add(decision_row(n) if not tag else (f"{tag}{n}", *decision_row(n)[1:]))
    decisions.flush()
    approvals = ApprovalBook(ledger, key_of=lambda p: p, ttl_s=900)
    request = GateRequest(
        AGENT, "deploy-agent", "agent", "rds.amazonaws.com", "DeleteDBInstance", "destructive"
    )
    asked = approvals.request(request, reason="agents ask first", requested_by="key_agent")
    approved = approvals.decide(asked.id, approve=True, key_id="key_ops")
    approvals.consume(approved)
    alerts = AlertStore(ledger)
    alerts.save([ALERT])
    alerts.save([Alert(**{**ALERT.__dict__, "event_count": 9, "summary": "9 deletes"})])
    alerts.set_status(ALERT.id, "acknowledged", actor="key_ops", note="looking")
    PrincipalRegistry(ledger, key_of=lambda p: p).change(
        AGENT, "quarantine", reason="critical alert", actor="leash:auto"
    )
    book = SuppressionBook(ledger, key_of=lambda p: p, memo=EventMemo())
    book.remove(book.add(rule="mass_delete", reason="drill", created_by="key_ops").id)
    record_false_positive(ledger, ALERT, event_ids=["e1"], actor="key_ops")
    decisions.stop()


def verified(store: ChdbStore, *keys: ChainSigner, **options: object) -> LedgerReport:
    return verify_ledger(store, [k.public for k in keys or (LEASH,)], **options)  # type: ignore[arg-type]


def mutate(store: ChdbStore, sql: str) -> None:
    store.command(f"{sql} SETTINGS mutations_sync = 1")


@pytest.fixture
def written(store: ChdbStore, root: Path) -> Iterator[ChdbStore]:
    """A store holding one process's ledger, every batch record stored."""
    process = Process(root)
    ledger = process.ledger(store, root)
    write_ledger(ledger, root, process)
    ledger.stop()
    yield store


def test_a_chained_ledger_verifies_clean(written: ChdbStore) -> None:
    report = verified(written)
    assert report.problems == []
    tables = {r[0] for r in written.query("SELECT DISTINCT table_name FROM ledger_batches")}
    assert tables == {
        "decisions",
        "approvals",
        "alerts",
        "alert_status",
        "principal_changes",
        "suppressions",
        "alert_feedback",
    }
    # 6 decisions, 3 approval versions, 2 alert versions, 1 status, 1 change, 2 suppression
    # versions, 1 verdict: every row as written, each batch signed
    assert (report.chains, report.rows, report.legacy_rows) == (1, 16, 0)
    assert report.signed == report.batches == 11


def test_newer_versions_replacing_older_ones_is_not_tampering(written: ChdbStore) -> None:
    for table in ("approvals", "alerts", "suppressions"):
        written.command(f"OPTIMIZE TABLE {table} FINAL")  # the engine drops replaced versions
    assert written.query("SELECT count() FROM approvals") == [(1,)]
    report = verified(written)
    assert report.problems == [] and report.rows == 16 - 2 - 1 - 1


def test_a_changed_row_is_named_with_its_table_and_batch(written: ChdbStore) -> None:
    mutate(
        written, "ALTER TABLE decisions UPDATE decision = 'allow' WHERE decision_id = 'dec_000003'"
    )
    problems = verified(written).problems
    assert len(problems) == 1
    assert "(decisions)" in problems[0] and "1 row(s) changed" in problems[0]
    assert "dec_000003" in problems[0]


def test_a_removed_row_is_named(written: ChdbStore) -> None:
    written.command("DELETE FROM principal_changes WHERE to_state = 'quarantined'")
    problems = verified(written).problems
    assert len(problems) == 1
    assert "(principal_changes)" in problems[0] and "1 row(s) removed" in problems[0]


def test_rolling_a_row_back_to_an_older_version_is_removal(written: ChdbStore) -> None:
    """Deleting an approval's newest version (`used`) would make it usable again."""
    written.command("DELETE FROM approvals WHERE version = (SELECT max(version) FROM approvals)")
    assert written.query("SELECT status FROM approvals FINAL") == [("approved",)]
    problems = verified(written).problems
    assert len(problems) == 1 and "(approvals)" in problems[0] and "removed" in problems[0]


def test_an_inserted_row_is_named_with_its_table(written: ChdbStore) -> None:
    written.insert(schema.DECISIONS, [("dec_forged", *decision_row(0)[1:])], decisions_mod.COLUMNS)
    forged_status = ("al_1", 2**62, "resolved", "key_ops", "", decision_row(0)[1])
    written.insert(
        schema.ALERT_STATUS,
        [forged_status],
        ["id", "version", "status", "actor", "note", "changed_at"],
    )
    problems = verified(written).problems
    assert problems == [
        f"ledger alert_status: 1 row(s) in no ledger batch (inserted), e.g. al_1@{2**62}",
        "ledger decisions: 1 row(s) in no ledger batch (inserted), e.g. dec_forged",
    ]


def test_a_chain_re_signed_with_another_key_or_stripped_of_a_signature_fails(
    written: ChdbStore,
) -> None:
    for seq, digest in written.query("SELECT seq, hash FROM ledger_batches"):
        mutate(
            written,
            f"ALTER TABLE ledger_batches UPDATE signer = '{THIEF.key_id}', "
            f"signature = '{THIEF.sign(str(digest))}' WHERE seq = {seq}",
        )
    problems = verified(written).problems
    assert len(problems) == 11 and all(f"signed by {THIEF.key_id}" in p for p in problems)
    assert any("batch 1 (decisions)" in p for p in problems)
    assert verified(written, THIEF).ok  # only the key kept elsewhere tells them apart
    mutate(written, "ALTER TABLE ledger_batches UPDATE signature = '' WHERE table_name = 'alerts'")
    stripped = verified(written, THIEF).problems
    assert len(stripped) == 2 and all("(alerts): unsigned" in p for p in stripped)


def test_a_row_and_its_record_rewritten_alike_fail_on_the_signature(written: ChdbStore) -> None:
    """Whoever can write the store but lacks the key edits a row, then its digest in the batch
    record, the record's rows hash and its hash: every check passes but the signature's."""
    from ingest.chain import chain_hash, encode_row, row_digest, rows_hash
    from ingest.ledger.chain import ledger_body

    mutate(written, "ALTER TABLE decisions UPDATE reason = 'fine' WHERE decision_id = 'dec_000001'")
    (row,) = written.query(
        f"SELECT {', '.join(decisions_mod.COLUMNS)} FROM decisions WHERE decision_id = 'dec_000001'"
    )
    seq, batch_id, columns, keys, digests, prev = written.query(
        "SELECT seq, batch_id, columns, row_keys, row_digests, prev_hash FROM ledger_batches "
        "WHERE table_name = 'decisions'"
    )[0]
    digests[keys.index("dec_000001")] = row_digest("dec_000001", encode_row(row))
    hashed = rows_hash(list(zip(keys, digests, strict=True)))
    digest = chain_hash(prev, seq, batch_id, ledger_body("decisions", columns, hashed))
    listed = ", ".join(f"'{d}'" for d in digests)
    mutate(
        written,
        f"ALTER TABLE ledger_batches UPDATE row_digests = [{listed}], rows_hash = '{hashed}', "
        f"hash = '{digest}' WHERE seq = {seq}",
    )
    problems = verified(written).problems
    assert any(f"batch {seq} (decisions): bad signature" in p for p in problems)
    assert any(f"batch {seq + 1} " in p and "link broken" in p for p in problems)
    assert not any("changed" in p for p in problems)


def test_two_processes_sharing_a_data_folder_keep_a_chain_each(
    store: ChdbStore, root: Path
) -> None:
    """`leash serve` beside `leash detect`: one store, one journal root, two chains."""
    serve, detect = Process(root), Process(root)
    serve_ledger, detect_ledger = serve.ledger(store, root), detect.ledger(store, root)
    write_ledger(serve_ledger, root, serve, tag="serve_")
    AlertStore(detect_ledger).save([Alert(**{**ALERT.__dict__, "id": "al_2"})])
    write_ledger(detect_ledger, root, detect, tag="detect_")
    serve_ledger.stop()
    detect_ledger.stop()
    report = verified(store)
    assert report.problems == []
    assert (report.chains, report.batches) == (2, 23)
    chains = store.query("SELECT DISTINCT chain FROM ledger_batches ORDER BY chain")
    assert [c[0].rpartition("/")[2] for c in chains] == sorted(
        [serve.folder.path.name, detect.folder.path.name]
    )


def test_a_killed_process_still_verifies_before_and_after_its_journal_is_replayed(
    store: ChdbStore, root: Path
) -> None:
    killed = Process(root)
    ledger = killed.ledger(store, root)
    decisions = killed.decisions(ledger, root).start()
    for n in range(4):
        decisions.add(decision_row(n))
    decisions.flush()  # stored and chained; the batch record only journaled
    for n in range(4, 9):
        decisions.add(decision_row(n))  # journaled, never stored
    AlertStore(ledger).save([ALERT])  # stored, its record journaled
    killed.die()

    # verify right after the crash: the records the dead process journaled count
    pending = unrecovered_rows(root, schema.LEDGER_BATCHES)
    before = verified(store, pending=pending)
    assert before.problems == [] and (before.pending, before.rows) == (2, 5)
    assert verified(store).problems  # without them, its rows look inserted

    successor = Process(root)
    after_ledger = successor.ledger(store, root)  # stores the dead chain's records first
    successor.decisions(after_ledger, root).recover()  # inserts rows 4-8, chained anew
    after_ledger.stop()
    report = verified(store)
    assert report.problems == [] and (report.chains, report.batches, report.rows) == (2, 3, 10)
    assert store.query("SELECT count() FROM decisions") == [(9,)]


def test_rows_from_before_chaining_are_legacy_but_backdated_rows_are_not(
    root: Path,
) -> None:
    """An upgraded store: what the ledger tables held when migration 0009 ran is legacy."""
    store = ChdbStore(None)
    try:
        store.command(schema.schema_migrations_ddl())
        for migration in discover_migrations():
            if migration.id < 9:  # the store as the previous Leash left it
                for statement in migration.statements:
                    store.command(statement)
                store.insert(
                    schema.SCHEMA_MIGRATIONS, [(migration.id, migration.name)], ["id", "name"]
                )
        old = [(f"old_{n}", *decision_row(n)[1:]) for n in range(3)]
        store.insert(schema.DECISIONS, old, decisions_mod.COLUMNS)
        unchained = verified(store)  # `leash verify` before this Leash ever opened the store
        assert unchained.ok and not unchained.chained
        assert apply_migrations(store) == [9]
        process = Process(root)
        ledger = process.ledger(store, root)
        write_ledger(ledger, root, process)
        ledger.stop()
        report = verified(store)
        assert report.problems == [] and report.legacy_rows == 3

        store.insert(schema.DECISIONS, [("backdated", *decision_row(0)[1:])], decisions_mod.COLUMNS)
        problems = verified(store).problems
        assert len(problems) == 1 and "ledger decisions: 4 row(s)" in problems[0]
        assert "before chaining began, when it held 3" in problems[0]
    finally:
        store.close()
