"""Helpers the benchmarks share: a free loopback port, waiting for a server's /healthz."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(proc: subprocess.Popen[bytes], port: int, what: str,
                 timeout_s: float = 60.0) -> subprocess.Popen[bytes]:
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
