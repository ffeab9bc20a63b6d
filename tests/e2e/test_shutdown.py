"""Stop and start: SIGTERM drains like Ctrl-C; a taken folder or port is said in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.e2e.conftest import start_leash, wait_for_total
from tests.factories import make_record
from tests.ports import free_port


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_a_stop_signal_drains_the_workers_and_keeps_every_acknowledged_event(
    tmp_path: Path, sig: int, code: int
) -> None:
    data = tmp_path / "data"
    leash = start_leash(data)
    records = [make_record() for _ in range(300)]
    with leash.client() as client:
        response = client.post("/v1/events", content=orjson.dumps(records))
    assert response.status_code == 202 and response.json()["accepted"] == 300
    leash.process.send_signal(sig)
    assert leash.process.wait(timeout=60) == code, leash.log.read_text()
    log = leash.log.read_text()
    assert "stopped cleanly: workers drained" in log, log
    assert "Traceback" not in log, log
    again = start_leash(data)
    try:
        assert wait_for_total(again, 300, timeout_s=30) == 300
    finally:
        again.stop()


def _up(data: Path, port: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEASH_API_KEYS": "k:admin"}
    command = [sys.executable, "-m", "leash.cli", "up", "--no-dashboard"]
    return subprocess.run(
        [*command, "--port", str(port), "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_a_second_leash_on_the_same_folder_or_port_says_why_in_one_line(tmp_path: Path) -> None:
    leash = start_leash(tmp_path / "data")
    try:
        port = int(leash.url.rsplit(":", 1)[1])
        same_dir = _up(tmp_path / "data", free_port())
        assert same_dir.returncode == 2
        assert f"another Leash (pid {leash.process.pid}) is running on" in same_dir.stderr
        same_port = _up(tmp_path / "other", port)
        assert same_port.returncode == 2
        assert f"cannot listen on 127.0.0.1:{port}" in same_port.stderr
        for result in (same_dir, same_port):
            assert "Traceback" not in result.stderr and "Leash API on" not in result.stderr
    finally:
        leash.stop()
    again = start_leash(tmp_path / "data")  # the lock goes with the process
    again.stop()
