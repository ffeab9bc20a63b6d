"""RowBatcher readiness by rows and by age, on an injected clock."""

from __future__ import annotations

import pytest

from ingest.sink.batcher import RowBatcher
from tests.conftest import FakeClock


@pytest.mark.parametrize(
    ("adds", "advance_s", "ready"),
    [
        pytest.param(0, 10.0, False, id="empty is never ready"),
        pytest.param(3, 0.0, True, id="flushes on rows"),
        pytest.param(2, 0.99, False, id="young and small waits"),
        pytest.param(1, 1.0, True, id="flushes on age"),
    ],
)
def test_is_ready(clock: FakeClock, adds: int, advance_s: float, ready: bool) -> None:
    batcher: RowBatcher[int] = RowBatcher(max_rows=3, max_age_s=1.0, clock=clock)
    for i in range(adds):
        batcher.add(i)
    clock.advance(advance_s)
    assert batcher.is_ready() is ready


def test_drain_resets_age(clock: FakeClock) -> None:
    batcher: RowBatcher[int] = RowBatcher(max_rows=10, max_age_s=1.0, clock=clock)
    batcher.add(1)
    clock.advance(5)
    assert batcher.drain() == [1]
    batcher.add(2)
    assert not batcher.is_ready()
    clock.advance(1)
    assert batcher.is_ready()
