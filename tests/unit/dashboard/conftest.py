"""Fixtures: a seeded, real Leash API process (one per session), an ingest-only one, env."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.dashboard import seeding
from tests.unit.dashboard.harness import (
    ADMIN_KEY,
    INGEST_KEY,
    READ_KEY,
    LeashAPI,
    point_dashboard,
    start_api,
)


@pytest.fixture(scope="session")
def leash_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LeashAPI]:
    """The full API (ingest, detection, response) seeded with real CloudTrail and agents."""
    if not seeding.dataset_files():
        pytest.skip(f"the dashboard is seeded with real CloudTrail from {seeding.CLOUDTRAIL_DIR}")
    api = start_api(tmp_path_factory.mktemp("dashboard") / "data")
    try:
        with api.client(INGEST_KEY) as client, api.client(READ_KEY) as reader:
            seeding.seed(client, reader)
            seeding.wait_for_burst_alert(reader)
        yield api
    finally:
        api.stop()


@pytest.fixture(scope="session")
def bare_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LeashAPI]:
    """An ingest-only API (no detect layer routes) with nothing stored."""
    api = start_api(tmp_path_factory.mktemp("bare") / "data", bare=True)
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def dashboard_env(leash_api: LeashAPI, monkeypatch: pytest.MonkeyPatch) -> LeashAPI:
    """The dashboard pointed at the seeded API with the admin key."""
    point_dashboard(monkeypatch, leash_api, ADMIN_KEY)
    return leash_api
