"""A stop signal drains: SIGTERM (systemd, Docker, Kubernetes) exactly like Ctrl-C."""

from __future__ import annotations

import signal
from pathlib import Path

import orjson
import pytest

from tests.e2e.conftest import start_leash, wait_for_total
from tests.factories import make_record


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
