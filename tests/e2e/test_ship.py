"""`leash ship` against a real `leash up`: stdin, .json.gz, .zip, retries while the API is down."""

from __future__ import annotations

import gzip
import subprocess
import sys
import zipfile
from pathlib import Path

import orjson
import pytest

from tests.e2e.conftest import LeashProcess, free_port, start_leash, wait_for_total
from tests.factories import make_record

pytestmark = pytest.mark.e2e


def ship(
    leash_url: str,
    key: str,
    *paths: str,
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "leash.cli",
            "ship",
            "--url",
            leash_url,
            "--api-key",
            key,
            "--quiet",
            *paths,
        ],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_stdin_gzip_and_zip_sources(leash_up: LeashProcess, tmp_path: Path) -> None:
    tmp_path = tmp_path / "logs"  # the fixture's data dir lives in tmp_path itself
    tmp_path.mkdir()
    gz = tmp_path / "123_CloudTrail_us-east-1_x.json.gz"
    gz.write_bytes(gzip.compress(orjson.dumps({"Records": [make_record() for _ in range(3)]})))
    archive = tmp_path / "logs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a/one.jsonl", b"\n".join(orjson.dumps(make_record()) for _ in range(2)))
        zf.writestr("README.md", b"not shipped")
    (tmp_path / "notes.txt").write_text("skipped")
    ndjson = b"\n".join(orjson.dumps(make_record()) for _ in range(4))
    result = ship(leash_up.url, leash_up.key, str(tmp_path), "-", stdin=ndjson)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "9 accepted" in result.stdout
    assert "1 files skipped" in result.stdout
    assert wait_for_total(leash_up, 9) == 9


def test_rejected_record_names_file_and_index_and_exits_1(
    leash_up: LeashProcess, tmp_path: Path
) -> None:
    bad = make_record()
    del bad["userIdentity"]
    path = tmp_path / "mixed.json"
    path.write_bytes(orjson.dumps([make_record(), bad, make_record()]))
    result = ship(leash_up.url, leash_up.key, str(path))
    assert result.returncode == 1
    assert "2 accepted" in result.stdout
    assert f"userIdentity is missing or not an object (first: {path} record 1)" in result.stdout


def test_retries_until_the_api_comes_up(tmp_path: Path) -> None:
    port = free_port()
    records = tmp_path / "r.json"
    records.write_bytes(orjson.dumps([make_record() for _ in range(5)]))
    shipper = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "leash.cli",
            "ship",
            "--url",
            f"http://127.0.0.1:{port}",
            "--api-key",
            "e2e-admin-key",
            "--quiet",
            str(records),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    leash = start_leash(tmp_path / "data", port=port)
    try:
        out, err = shipper.communicate(timeout=120)
        assert shipper.returncode == 0, out + err
        assert "5 accepted" in out
    finally:
        leash.stop()


def test_wrong_key_says_what_to_do(leash_up: LeashProcess, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(orjson.dumps(make_record()))
    result = ship(leash_up.url, "not-a-key", str(path))
    assert result.returncode == 2
    assert "LEASH_API_KEY" in result.stderr


def test_a_path_that_does_not_exist_fails_naming_it(leash_up: LeashProcess, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    result = ship(leash_up.url, leash_up.key, str(missing))
    assert result.returncode == 2
    assert f"no such file or directory: {missing}" in " ".join(result.stderr.split())


def test_a_url_without_a_scheme_fails_at_once_with_an_example(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(orjson.dumps(make_record()))
    result = ship("127.0.0.1:8000", "k", str(path))
    assert result.returncode == 2
    said = " ".join(result.stderr.split())  # (rich wraps long lines)
    assert "--url must start with http:// or https://" in said
    assert "http://127.0.0.1:8000" in said
