"""wait_until: poll a condition with a deadline, for tests waiting on another thread or process."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_until"]

T = TypeVar("T")
POLL_S = 0.02  # seconds between checks


def wait_until(
    condition: Callable[[], T],
    *,
    timeout_s: float = 10.0,
    what: str = "condition",
    poll_s: float = POLL_S,
) -> T:
    """Return the condition's first truthy value; fail the test if `timeout_s` passes first.

    Waits as long as the condition needs and no longer, where a fixed sleep is either too long
    on a fast machine or too short on a loaded one.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(poll_s)
