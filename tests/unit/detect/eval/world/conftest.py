"""Shared fixtures: small worlds generated once per session."""

from __future__ import annotations

import pytest

from detect.eval.world import World, generate_world


@pytest.fixture(scope="session")
def world1() -> World:
    """A short world for seed 1."""
    return generate_world(1, baseline_days=2, test_days=2)


@pytest.fixture(scope="session")
def world2() -> World:
    """A short world for seed 2."""
    return generate_world(2, baseline_days=2, test_days=2)
