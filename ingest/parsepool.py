"""ParsePool: large ingest bodies parsed and normalised in worker processes, off the API's GIL.

Under ~5,000 events/s the executor thread that gunzips, parses, normalises and encodes POST
bodies held the API process's GIL 14-16% of the time (2.7-4 ms per body of 100 records), and
the decide path waits for that GIL (README, Benchmarks: the twentieth stop's profile). The
pool's processes do that work with their own `BodyParser`, built from the same settings, and
send back only what the API process needs: the accepted events' ids and bus records, the
rejected records' errors and the counts. The dedupe, the claim and the durable publish stay in
the API process, so "acknowledged means durable" does not change.

A process that dies (kill -9, out of memory) breaks the pool: the requests it held, and any
made while a new pool starts, are parsed on a worker thread instead (nothing was acknowledged,
nothing is lost). Pool processes ignore SIGINT: Ctrl-C reaches the whole process group, and
`leash up` drains the requests in flight rather than failing them.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from dataclasses import dataclass

from ingest.events import Normalizer, Origin
from ingest.identity import build_identity_rules
from ingest.service import Allow, BodyParser, IngestResult
from ingest.settings import IdentitySettings, Settings

__all__ = ["ParseConfig", "ParsePool"]

logger = logging.getLogger(__name__)

MAX_RESTARTS = 5  # pools that broke within RESTART_WINDOW_S before large bodies stay on threads
RESTART_WINDOW_S = 300
PARENT_CHECK_S = 0.5  # how often a pool process checks that leash up still runs


@dataclass(frozen=True)
class ParseConfig:
    """What a BodyParser is built from, here and in a pool process (a Normalizer itself does
    not pickle). `from_settings` is the one place it is read from the settings."""

    identity: IdentitySettings
    max_future_skew_s: float
    max_decompressed_bytes: int
    max_records: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ParseConfig:
        return cls(
            identity=settings.identity,
            max_future_skew_s=settings.max_future_skew_s,
            max_decompressed_bytes=settings.max_decompressed_bytes,
            max_records=settings.max_records_per_request,
        )

    def normalizer(self) -> Normalizer:
        return Normalizer(build_identity_rules(self.identity), max_future_s=self.max_future_skew_s)

    def parser(self, normalizer: Normalizer | None = None) -> BodyParser:
        return BodyParser(
            normalizer or self.normalizer(),
            max_decompressed_bytes=self.max_decompressed_bytes,
            max_records=self.max_records,
        )


_parser: BodyParser | None = None  # a pool process's own, built by _start


def _start(config: ParseConfig, log_level: int) -> None:
    global _parser  # noqa: PLW0603 - one parser per pool process, made once at its start
    # no parse process outlives leash up, not even its kill -9; not die_with_parent (pdeathsig):
    # that fires when the parent's *thread* that started the process ends, and replacement
    # pools are started from a short-lived thread
    threading.Thread(
        target=_exit_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True
    ).start()
    # Ctrl-C reaches the whole process group: leash up drains, and the bodies still in flight
    # are parsed here to the end (an interrupted parse would fail its request)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)s %(name)s[parse pool]: %(message)s"
    )
    _parser = config.parser()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def _parse(body: bytes, encoding: str, allow: Allow | None, origin: Origin) -> IngestResult:
    """In a pool process: the body's result without its AuditEvents (the API process needs
    ids and bus records only; sending the events back would cost it what the pool saves)."""
    if _parser is None:  # pragma: no cover - _start runs before any task
        raise RuntimeError("parse pool process was not started")
    result = _parser.parse_and_normalize(body, encoding, allow, origin=origin)
    result.events = []
    return result


def _ready() -> bool:
    return _parser is not None


class ParsePool:
    """`processes` worker processes (spawned) parsing ingest bodies; a Worker of the runtime.

    While a replacement pool starts (~0.5-1 s), and for good once pools broke more than
    MAX_RESTARTS times within RESTART_WINDOW_S (a process that cannot start or keeps dying),
    `parse` answers None and the caller parses on a thread: slower, never lost."""

    def __init__(self, config: ParseConfig, processes: int) -> None:
        if processes < 1:
            raise ValueError("a parse pool needs at least one process")
        self._config = config
        self._processes = processes
        self._lock = threading.Lock()
        self._executor = self._spawn()
        self._ready = False  # every process of the current pool has built its parser
        self._stopped = False
        self._given_up = False
        self._broke_at: list[float] = []  # monotonic times pools broke, within the window
        self.restarts = 0  # pools started after one broke

    def _spawn(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(self._config, logging.getLogger().getEffectiveLevel()),
        )

    def start(self, timeout_s: float = 60.0) -> ParsePool:
        """Start every process now and wait until each has built its parser, so that start-up
        (imports, ~0.5 s) and its errors happen before serving, not in the first request."""
        with self._lock:
            executor = self._executor
        self._warm(executor, timeout_s)
        if not self._ready:
            raise RuntimeError("the parse pool's processes did not start; see the log above")
        return self

    def _warm(self, executor: ProcessPoolExecutor, timeout_s: float = 60.0) -> None:
        try:
            for ready in [executor.submit(_ready) for _ in range(self._processes)]:
                ready.result(timeout=timeout_s)
        except Exception as exc:  # noqa: BLE001 - a pool that cannot start: parse on threads
            self._broken(executor, exc)
            return
        with self._lock:
            if self._executor is executor and not self._stopped:
                self._ready = True

    async def parse(
        self, body: bytes, encoding: str, allow: Allow | None, origin: Origin
    ) -> IngestResult | None:
        """The body parsed in a pool process, or None when no pool process can take it now
        (one died, a new pool is starting, leash up is stopping): the caller parses it itself.
        The body's own errors (bad JSON, over a limit: ValueErrors) are raised as if it had
        been parsed here."""
        with self._lock:
            if not self._ready:
                return None
            executor = self._executor
        try:
            future = executor.submit(_parse, body, encoding, allow, origin)
        except RuntimeError as exc:  # broken (BrokenExecutor is one), or shut down
            self._broken(executor, exc)
            return None
        try:
            return await asyncio.wrap_future(future)
        except ValueError:
            raise
        except BrokenExecutor as exc:  # a process died under it: a new pool, a thread for now
            self._broken(executor, exc)
            return None
        except Exception as exc:  # noqa: BLE001 - not the body's error (those are ValueErrors)
            # e.g. a result that did not pickle: the pool still works, this body goes to a thread
            logger.warning("the parse pool could not parse a body (%r); parsing it here", exc)
            return None

    def _broken(self, executor: ProcessPoolExecutor, exc: BaseException) -> None:
        """The pool `executor` failed: start a new one in the background, or give up on pools
        when they keep breaking. Only for the current pool, once, and never after stop."""
        now = time.monotonic()
        with self._lock:
            if self._executor is not executor or self._stopped:
                return
            self._ready = False
            self._broke_at = [t for t in self._broke_at if now - t < RESTART_WINDOW_S] + [now]
            if len(self._broke_at) > MAX_RESTARTS:
                if not self._given_up:
                    logger.error(
                        "the parse pool broke %d times within %d s (%s); large bodies are "
                        "parsed on threads of the API process from now on",
                        len(self._broke_at),
                        RESTART_WINDOW_S,
                        exc,
                    )
                self._given_up = True
                replacement = None
            else:
                logger.warning(
                    "the parse pool failed (%r); parsing on a thread while a new pool of %d starts",
                    exc,
                    self._processes,
                )
                replacement = self._executor = self._spawn()
                self.restarts += 1
        executor.shutdown(wait=False, cancel_futures=True)
        if replacement is not None:
            threading.Thread(
                target=self._warm, args=(replacement,), name="parse-pool-warm", daemon=True
            ).start()

    def pids(self) -> list[int]:
        """The running pool processes' ids (for tests and `ps`)."""
        with self._lock:
            processes = getattr(self._executor, "_processes", None) or {}
        return sorted(processes)

    def ready(self) -> bool:
        """Whether large bodies go to the pool now (False while a new pool starts)."""
        return self._ready

    def alive(self) -> bool:
        return True  # a broken pool is replaced (or given up on); the API parses meanwhile

    def backlog(self) -> int:
        return 0  # each request waits for its own parse: nothing is queued behind the caller

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop for good: no pool is started after this, later bodies are parsed on threads."""
        with self._lock:
            self._stopped, self._ready = True, False
            executor = self._executor
        # every request has ended by now (the server stops before the workers); a process
        # that hangs is not waited for past `timeout_s`, and dies with leash up (pdeathsig)
        waiter = threading.Thread(target=executor.shutdown, kwargs={"cancel_futures": True})
        waiter.start()
        waiter.join(timeout_s)
