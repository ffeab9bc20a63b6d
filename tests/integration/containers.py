"""Session fixtures: real Kafka and ClickHouse in Docker (testcontainers), skipped without Docker.

Images are pinned and never pulled here: CI has no registry, so a missing image means a skip.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

__all__ = [
    "CLICKHOUSE_IMAGE",
    "KAFKA_IMAGE",
    "clickhouse_server_url",
    "docker_images",
    "kafka_container_url",
]

KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"  # Apache Kafka 3.6; testcontainers' KRaft boot script
CLICKHOUSE_IMAGE = "clickhouse/clickhouse-server:25.8"  # the tag compose.yaml pins
DOCKER_TIMEOUT_S = 5  # seconds for `docker info` / `docker image inspect`


def _docker_problem() -> str | None:
    if shutil.which("docker") is None:
        return "no docker client"
    try:
        info = subprocess.run(
            ["docker", "info"], capture_output=True, timeout=DOCKER_TIMEOUT_S, check=False
        )
        if info.returncode != 0:
            return f"docker info: {info.stderr.decode(errors='replace').strip()[:200]}"
        for image in (KAFKA_IMAGE, CLICKHOUSE_IMAGE):
            found = subprocess.run(
                ["docker", "image", "inspect", image],
                capture_output=True,
                timeout=DOCKER_TIMEOUT_S,
                check=False,
            )
            if found.returncode != 0:
                return f"image {image} is not present (tests never pull)"
    except subprocess.TimeoutExpired:
        return "docker did not answer within 5 s"
    return None


@pytest.fixture(scope="session")
def docker_images() -> None:
    """The one Docker check of a session: skip every container test with the reason."""
    problem = _docker_problem()
    if problem is not None:
        pytest.skip(f"docker daemon/image unavailable: {problem}")


@pytest.fixture(scope="session")
def clickhouse_server_url(docker_images: None) -> Iterator[str]:
    """`clickhouse://user:pw@host:port` of a session-wide server (append `/database`)."""
    from testcontainers.community.clickhouse import ClickHouseContainer

    with ClickHouseContainer(CLICKHOUSE_IMAGE, port=8123) as container:
        host = container.get_container_host_ip()
        port = container.get_exposed_port(8123)
        yield f"clickhouse://{container.username}:{container.password}@{host}:{port}"


@pytest.fixture(scope="session")
def kafka_container_url(docker_images: None) -> Iterator[str]:
    """`kafka://host:port` of a session-wide single-node KRaft Kafka."""
    from testcontainers.community.kafka import KafkaContainer

    with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
        yield f"kafka://{container.get_bootstrap_server()}"
