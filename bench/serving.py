"""Helpers the benchmarks share: a free loopback port, a `leash up` to measure, /healthz waits."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def gzip_json_headers(key: str) -> dict[str, str]:
    """Headers for POSTing gzip'd JSON bodies to Leash with API key `key`."""
    return {
        "Authorization": f"Bearer {key}",
        "Content-Encoding": "gzip",
        "Content-Type": "application/json",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(
    proc: subprocess.Popen[bytes], port: int, what: str, timeout_s: float = 60.0
) -> subprocess.Popen[bytes]:
    """Return `proc` once http://127.0.0.1:port/healthz answers 200; exit if it never does."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"{what} did not start")


def start_leash(
    data_dir: Path, port: int, env: dict[str, str], timeout_s: float = 60.0
) -> subprocess.Popen[bytes]:
    """`leash up` (no dashboard) on `port` with `env` added, logging beside `data_dir`; returns
    once it is healthy (within `timeout_s`)."""
    log = data_dir.parent / "leash.log"
    command = [
        sys.executable,
        "-m",
        "leash.cli",
        "up",
        "--no-dashboard",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    return wait_healthy(proc, port, f"leash up (see {log})", timeout_s)
