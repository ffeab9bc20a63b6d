"""Real `leash up` (or `leash serve`) processes on free loopback ports, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.ports import free_port

ADMIN_KEY = "e2e-admin-key"


@dataclass
class LeashProcess:
    url: str
    key: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=30
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_leash(
    data_dir: Path,
    *,
    extra_env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    port: int | None = None,
    command: tuple[str, ...] = ("up", "--no-dashboard"),
) -> LeashProcess:
    port = port or free_port()
    env = {
        **os.environ,
        "LEASH_API_KEYS": f"{ADMIN_KEY}:admin",
        "LEASH_SINK__MAX_AGE_S": "0.1",
        "LEASH_SINK__COMMIT_INTERVAL_S": "0.1",
        **(extra_env or {}),
    }
    log = data_dir.parent / f"leash-{port}.log"
    handle = log.open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "leash.cli",
            *command,
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            *args,
        ],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=env,
    )
    leash = LeashProcess(f"http://127.0.0.1:{port}", ADMIN_KEY, data_dir, process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"leash {command[0]} exited with {process.returncode}:\n{log.read_text()}"
            )
        try:
            if httpx.get(f"{leash.url}/healthz", timeout=1).status_code == 200:
                return leash
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    leash.stop(signal.SIGKILL)
    raise RuntimeError(f"leash {command[0]} did not become healthy:\n{log.read_text()}")


def wait_for_total(leash: LeashProcess, expected: int, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    with leash.client() as client:
        while True:
            total = int(client.get("/v1/events", params={"limit": 1}).json()["total"])
            if total >= expected or time.monotonic() > deadline:
                return total
            time.sleep(0.1)


@pytest.fixture
def leash_up(tmp_path: Path) -> Iterator[LeashProcess]:
    leash = start_leash(tmp_path / "data")
    yield leash
    leash.stop()
