"""Default fixtures: settings on tmp_path, a migrated chDB store, a broker, a fake clock, an app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ingest.bus.embedded import EmbeddedBroker
from ingest.keys import KeyEntry
from ingest.migrate import apply_migrations
from ingest.runtime import Runtime, open_runtime
from ingest.settings import Settings
from ingest.store.chdb import ChdbStore

INGEST_KEY = "test-ingest-key"
READ_KEY = "test-read-key"
ADMIN_KEY = "test-admin-key"
# how LEASH_TRUSTED_KEYS names the ingest key: an unnamed key goes by its fingerprint
INGEST_KEY_NAME = KeyEntry.from_token(INGEST_KEY, frozenset({"ingest"})).key_id


class FakeClock:
    """A monotonic clock advanced by hand, so batching and ageing tests never sleep."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


pytest_plugins = ["tests.skip_guard"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.integration)


def make_settings(root: Path) -> Settings:
    """Settings of an embedded process under `root`: memory bus, embedded chDB, the test keys."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=root / "data",
        bus_url="memory://",
        store_url="",
        api_keys=[f"{INGEST_KEY}:ingest", f"{READ_KEY}:read", f"{ADMIN_KEY}:admin"],
        sink={"max_rows": 500, "max_age_s": 0.05, "commit_interval_s": 0.05},
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def store() -> Iterator[ChdbStore]:
    s = ChdbStore(None)
    apply_migrations(s)
    yield s
    s.close()


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    b = EmbeddedBroker(partitions=3)
    yield b
    b.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    from leash.app import start_workers

    with open_runtime(settings) as rt:
        start_workers(rt, sink=True, detect=False)
        yield rt


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    from leash.app import build_app, build_services

    app = build_app(build_services(runtime))
    with TestClient(app) as test_client:
        yield test_client
    app.dependency_overrides.clear()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
