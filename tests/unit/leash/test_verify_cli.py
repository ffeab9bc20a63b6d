"""`leash verify` with signatures: export the sink's public key, verify against the copy, and
see a store rewritten by someone without the key fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from ingest.runtime import open_runtime
from ingest.signing import ChainSigner
from ingest.store.chdb import ChdbStore
from leash.app import build_app, build_services, start_workers
from tests.conftest import INGEST_KEY, READ_KEY, auth, make_settings
from tests.factories import make_record
from tests.unit.ingest.test_receivers import settled_rows


def verify(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leash.cli", "verify", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_export_the_key_verify_against_it_and_catch_a_rewrite(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with open_runtime(settings) as runtime:
        start_workers(runtime, sink=True, detect=False)
        with TestClient(build_app(build_services(runtime))) as client:
            for _ in range(3):
                records = [make_record() for _ in range(20)]
                sent = client.post(
                    "/v1/events", json={"Records": records}, headers=auth(INGEST_KEY)
                )
                assert sent.status_code == 202
                settled_rows(runtime)
            served = client.get("/v1/integrity/key", headers=auth(READ_KEY)).json()
            assert client.get("/v1/integrity/key").status_code == 401
    data_dir = settings.data_dir

    printed = verify(data_dir, "--print-public-key")
    assert printed.returncode == 0 and printed.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    assert printed.stdout == served["public_key"] and served["signers_in_store"] == [
        served["key_id"]
    ]
    kept = tmp_path / "sink.pub"  # the copy an operator keeps away from the store
    kept.write_text(printed.stdout)

    ok = verify(data_dir, "--public-key", str(kept))
    assert ok.returncode == 0, ok.stderr
    assert "60 rows" in ok.stdout and "signatures checked against 1 key(s): OK" in ok.stdout

    # someone who can write the store and its signing key file replaces both consistently
    thief = ChainSigner(Ed25519PrivateKey.generate())
    store = ChdbStore(settings.resolved_store_url.removeprefix("chdb://"))
    try:
        for seq, digest in store.query("SELECT seq, hash FROM ingest_batches"):
            store.command(
                f"ALTER TABLE ingest_batches UPDATE signer = '{thief.key_id}', "
                f"signature = '{thief.sign(str(digest))}' WHERE seq = {seq} "
                "SETTINGS mutations_sync = 1"
            )
    finally:
        store.close()
    caught = verify(data_dir, "--public-key", str(kept))
    assert caught.returncode == 1
    assert caught.stderr.count("TAMPERED") >= 1 and f"signed by {thief.key_id}" in caught.stderr

    missing = verify(data_dir, "--public-key", str(tmp_path / "nope.pub"))
    assert missing.returncode == 2 and "nope.pub" in missing.stderr


def test_verify_checks_the_ledger_and_names_a_decision_changed_afterwards(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with open_runtime(settings) as runtime:
        services = build_services(runtime)
        start_workers(runtime, sink=False, services=services)
        with TestClient(build_app(services)) as client:
            for n in range(3):
                body = {
                    "principal": "arn:aws:iam::123456789012:user/alice",
                    "action": "DescribeInstances",
                    "source": "ec2.amazonaws.com",
                    "resources": [f"i-{n}"],
                }
                answer = client.post("/v1/decide", json=body, headers=auth(INGEST_KEY))
                assert answer.json()["decision"] == "allow"

    ok = verify(settings.data_dir)
    assert ok.returncode == 0, ok.stderr
    assert "ledger: verified 1 batches in 1 chains, 3 rows, 1 signatures checked: OK" in ok.stdout

    store = ChdbStore(settings.resolved_store_url.removeprefix("chdb://"))
    try:
        store.command(
            "ALTER TABLE decisions UPDATE decision = 'deny' WHERE has(resources, 'i-1') "
            "SETTINGS mutations_sync = 1"
        )
    finally:
        store.close()
    caught = verify(settings.data_dir)
    assert caught.returncode == 1
    assert (
        "TAMPERED ledger chain" in caught.stderr
        and "(decisions): 1 row(s) changed" in caught.stderr
    )
