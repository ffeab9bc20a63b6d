"""Hash-chained, signed batches: `verify_store` names batches whose rows were changed or removed,
and with the sink's public key, any batch not signed by it -- a chain rewritten consistently by
someone who can write to the store, but does not hold the key."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ingest.bus import Record
from ingest.events import encode_event
from ingest.signing import ChainSigner, load_public_key
from ingest.sink.verify import verify_store
from ingest.sink.writer import EventWriter
from ingest.store.chdb import ChdbStore
from tests.factories import make_event

SINK = ChainSigner(Ed25519PrivateKey.generate())


def write_batches(
    store: ChdbStore, batches: int, size: int, signer: ChainSigner | None = None
) -> list[list[str]]:
    writer = EventWriter(store, signer=signer)
    ids = []
    offset = 0
    for _ in range(batches):
        events = [make_event() for _ in range(size)]
        records = []
        for event in events:
            records.append(Record("t", 0, offset, b"k", encode_event(event), 0))
            offset += 1
        writer.write(records)
        ids.append([e.event_id for e in events])
    writer.seal()
    return ids


def test_untouched_store_verifies(store: ChdbStore) -> None:
    write_batches(store, 3, 4)
    report = verify_store(store)
    assert report.ok and (report.batches, report.rows) == (3, 12)


def test_chain_continues_across_writer_restarts(store: ChdbStore) -> None:
    write_batches(store, 2, 2)
    write_batches(store, 2, 2)  # a new EventWriter picks up the chain head
    report = verify_store(store)
    assert report.ok and report.batches == 4


def test_deleted_row_names_its_batch(store: ChdbStore) -> None:
    ids = write_batches(store, 3, 4)
    store.command(f"DELETE FROM events WHERE event_id = '{ids[1][2]}'")
    report = verify_store(store)
    assert not report.ok
    assert len(report.problems) == 1
    assert "batch 2" in report.problems[0] and "removed" in report.problems[0]


def test_changed_row_names_its_batch(store: ChdbStore) -> None:
    ids = write_batches(store, 2, 3)
    store.command(
        "ALTER TABLE events UPDATE raw = replace(raw, 'DescribeInstances', 'Nothing') "
        f"WHERE event_id = '{ids[0][0]}' SETTINGS mutations_sync = 1"
    )
    report = verify_store(store)
    assert [p for p in report.problems if "batch 1" in p and "changed" in p]


def test_removed_batch_record_breaks_the_link(store: ChdbStore) -> None:
    write_batches(store, 3, 2)
    store.command("DELETE FROM ingest_batches WHERE seq = 2")
    report = verify_store(store)
    assert any("batch 3" in p and "link broken" in p for p in report.problems)


def rewrite_chain(store: ChdbStore, from_seq: int, signer: ChainSigner | None) -> None:
    """What an attacker with write access to the store does after editing rows: recompute every
    batch hash from `from_seq` on (rows hash, link, hash), and sign them with `signer`."""
    from ingest.chain import chain_hash, row_digest, rows_hash

    current = {
        str(e): row_digest(str(e), str(r))
        for e, r in store.query("SELECT event_id, raw FROM events FINAL")
    }
    rows = store.query(
        "SELECT seq, batch_id, event_ids, prev_hash FROM ingest_batches ORDER BY seq"
    )
    prev = ""
    for seq, batch_id, ids, prev_hash in rows:
        if seq < from_seq:
            prev = str(store.query(f"SELECT hash FROM ingest_batches WHERE seq = {seq}")[0][0])
            continue
        body = rows_hash([(str(e), current[str(e)]) for e in ids])
        link = prev or str(prev_hash)
        digest = chain_hash(link, int(seq), str(batch_id), body)
        signed = (
            f", signer = '{signer.key_id}', signature = '{signer.sign(digest)}'" if signer else ""
        )
        store.command(
            f"ALTER TABLE ingest_batches UPDATE rows_hash = '{body}', prev_hash = '{link}', "
            f"hash = '{digest}'{signed} "
            f"WHERE seq = {seq} SETTINGS mutations_sync = 1"
        )
        prev = digest


def test_a_signed_chain_verifies_under_the_sinks_public_key(store: ChdbStore) -> None:
    write_batches(store, 3, 4, SINK)
    report = verify_store(store, [SINK.public])
    assert report.ok and (report.batches, report.signed) == (3, 3)


def test_a_consistently_rewritten_chain_passes_the_hashes_but_not_the_signature(
    store: ChdbStore,
) -> None:
    ids = write_batches(store, 3, 4, SINK)
    store.command(
        "ALTER TABLE events UPDATE raw = replace(raw, 'DescribeInstances', 'Nothing') "
        f"WHERE event_id = '{ids[1][0]}' SETTINGS mutations_sync = 1"
    )
    rewrite_chain(store, 2, signer=None)  # re-hashed, signatures left as they were
    assert verify_store(store).ok  # the hash chain alone cannot tell
    problems = verify_store(store, [SINK.public]).problems
    assert len(problems) == 2 and all("bad signature" in p for p in problems)
    assert "batch 2" in problems[0] and "batch 3" in problems[1]


def test_a_chain_re_signed_with_another_key_or_stripped_of_signatures_fails(
    store: ChdbStore,
) -> None:
    write_batches(store, 2, 3, SINK)
    thief = ChainSigner(Ed25519PrivateKey.generate())
    rewrite_chain(store, 1, signer=thief)
    problems = verify_store(store, [SINK.public]).problems
    assert len(problems) == 2 and all(f"signed by {thief.key_id}" in p for p in problems)
    assert verify_store(store, [thief.public]).ok  # only the key kept elsewhere tells them apart
    store.command(
        "ALTER TABLE ingest_batches UPDATE signature = '' WHERE seq = 2 SETTINGS mutations_sync = 1"
    )
    assert any(
        "batch 2" in p and "unsigned" in p for p in verify_store(store, [thief.public]).problems
    )


def test_an_inserted_batch_is_named(store: ChdbStore) -> None:
    write_batches(store, 2, 2, SINK)
    write_batches(store, 1, 2, ChainSigner(Ed25519PrivateKey.generate()))  # continues the chain
    problems = verify_store(store, [SINK.public]).problems
    assert len(problems) == 1 and "batch 3" in problems[0] and "signed by" in problems[0]


def test_the_key_is_made_once_with_mode_0600_and_its_public_half_exports(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    made = ChainSigner.load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert ChainSigner.load_or_create(path).key_id == made.key_id
    exported = tmp_path / "sink.pub"
    exported.write_text(made.public_pem())
    assert load_public_key(exported) == made.public


def test_batches_from_before_signing_are_legacy_for_the_local_check_only(store: ChdbStore) -> None:
    """An upgraded store: its chain's first batches were written unsigned. Checked against the
    local key they are counted as older, not tampering -- but an unsigned batch after a signed
    one is a problem, and an exported key given on purpose holds every batch to it."""
    write_batches(store, 2, 2)  # before the upgrade
    write_batches(store, 2, 2, SINK)
    lenient = verify_store(store, [SINK.public], strict=False)
    assert lenient.ok and (lenient.legacy, lenient.signed) == (2, 2)
    strict = verify_store(store, [SINK.public]).problems
    assert len(strict) == 2 and all("unsigned" in p for p in strict)
    store.command(
        "ALTER TABLE ingest_batches UPDATE signature = '' WHERE seq = 4 SETTINGS mutations_sync = 1"
    )
    stripped = verify_store(store, [SINK.public], strict=False).problems
    assert len(stripped) == 1 and "batch 4" in stripped[0] and "unsigned" in stripped[0]
