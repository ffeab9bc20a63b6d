"""ThreadWorker: the one shape of every background worker (start, alive, backlog, stop)."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Protocol, Self

__all__ = ["ThreadWorker", "Worker", "die_with_parent"]

STOP_TIMEOUT_S = 10.0  # seconds `stop` waits for the thread by default


class Worker(Protocol):
    """A background worker a process runs; the runtime stops (drains) it when it closes.

    `backlog` counts work accepted but not yet done -- bus records not yet processed for a
    consumer, webhook deliveries not yet sent for the outbox; 0 when there is no queue.
    """

    def alive(self) -> bool: ...

    def backlog(self) -> int: ...

    def stop(self, timeout_s: float = ...) -> None: ...


class ThreadWorker:
    """A daemon thread running `_run()` until `stop()`; subclasses fill in the loop.

    `_run` must return soon after `self._stopping` is set (wait on it rather than sleep).
    `stop` sets the event, calls `_wake` (to interrupt a wait on something else), joins the
    thread and then calls `_close` to release what the loop used (drain, commit, close).
    """

    def __init__(self, name: str) -> None:
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def alive(self) -> bool:
        return self._thread.is_alive()

    def backlog(self) -> int:
        return 0

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        self._stopping.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self._close()

    def _run(self) -> None:
        raise NotImplementedError

    def _wake(self) -> None:
        """Interrupt a wait other than on `_stopping` (e.g. a queue's condition)."""

    def _close(self) -> None:
        """Release what the loop used, after the thread has ended."""


def die_with_parent() -> None:
    """In a child process: get SIGTERM when the parent dies, even by kill -9 (Linux), so no
    detector, dashboard or parse process outlives `leash up`."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
