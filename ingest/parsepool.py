"""ParsePool: large ingest bodies parsed and normalised in worker processes, off the API's GIL.

Under ~5,000 events/s the executor thread that gunzips, parses, normalises and encodes POST
bodies held the API process's GIL 14-16% of the time (2.7-4 ms per body of 100 records), and
the decide path waits for that GIL (README, Benchmarks: the twentieth stop's profile). The
pool's processes do that work with their own `BodyParser`, built from the same settings, and
send back only what the API process needs: the accepted events' ids and bus records, the
rejected records' errors and the counts. The dedupe, the claim and the durable publish stay in
the API process, so "acknowledged means durable" does not change.

A process that dies (kill -9, out of memory) breaks the pool: the requests it held, and any
made meanwhile, are parsed on a worker thread instead (nothing was acknowledged, nothing is
lost), and a new pool is started for the next ones.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import threading
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from dataclasses import dataclass

from ingest.events import Normalizer, Origin
from ingest.identity import build_identity_rules
from ingest.service import Allow, BodyParser, IngestResult
from ingest.settings import IdentitySettings
from ingest.worker import die_with_parent

__all__ = ["ParseConfig", "ParsePool"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParseConfig:
    """What a pool process builds its BodyParser from (a Normalizer itself does not pickle)."""

    identity: IdentitySettings
    max_future_skew_s: float
    max_decompressed_bytes: int
    max_records: int

    def parser(self) -> BodyParser:
        normalizer = Normalizer(
            build_identity_rules(self.identity), max_future_s=self.max_future_skew_s
        )
        return BodyParser(
            normalizer,
            max_decompressed_bytes=self.max_decompressed_bytes,
            max_records=self.max_records,
        )


_parser: BodyParser | None = None  # a pool process's own, built by _start


def _start(config: ParseConfig) -> None:
    global _parser  # noqa: PLW0603 - one parser per pool process, made once at its start
    die_with_parent()  # no parse process outlives leash up, not even its kill -9
    _parser = config.parser()


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
    """`processes` worker processes (spawned) parsing ingest bodies; a Worker of the runtime."""

    def __init__(self, config: ParseConfig, processes: int) -> None:
        if processes < 1:
            raise ValueError("a parse pool needs at least one process")
        self._config = config
        self._processes = processes
        self._lock = threading.Lock()
        self._executor = self._spawn()
        self.restarts = 0  # pools started after one broke

    def _spawn(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(self._config,),
        )

    def start(self, timeout_s: float = 60.0) -> ParsePool:
        """Start every process now and wait until each has built its parser, so that start-up
        (imports, ~0.5 s) and its errors happen before serving, not in the first request."""
        with self._lock:
            executor = self._executor
        for ready in [executor.submit(_ready) for _ in range(self._processes)]:
            ready.result(timeout=timeout_s)
        return self

    async def parse(
        self, body: bytes, encoding: str, allow: Allow | None, origin: Origin
    ) -> IngestResult | None:
        """The body parsed in a pool process, or None when the pool broke under it (the caller
        parses it itself). The body's own errors (bad JSON, over a limit) are raised as if it
        had been parsed here."""
        with self._lock:
            executor = self._executor
        try:
            future = executor.submit(_parse, body, encoding, allow, origin)
        except BrokenExecutor as exc:
            self._replace(executor, exc)
            return None
        except RuntimeError:  # shut down: leash up is stopping, a thread parses what arrives
            return None
        try:
            return await asyncio.wrap_future(future)
        except BrokenExecutor as exc:  # a process died under it: a new pool for the next ones
            self._replace(executor, exc)
            return None

    def _replace(self, broken: ProcessPoolExecutor, exc: BaseException) -> None:
        with self._lock:
            if self._executor is not broken:  # another request replaced it already
                return
            logger.warning(
                "a parse pool process died (%s); parsing its requests on a thread and starting "
                "a new pool of %d",
                exc,
                self._processes,
            )
            self._executor = self._spawn()
            self.restarts += 1
        broken.shutdown(wait=False, cancel_futures=True)

    def pids(self) -> list[int]:
        """The running pool processes' ids (for tests and `ps`)."""
        with self._lock:
            processes = getattr(self._executor, "_processes", None) or {}
        return sorted(processes)

    def alive(self) -> bool:
        return True  # a broken pool is replaced at its next request; the API parses meanwhile

    def backlog(self) -> int:
        return 0  # each request waits for its own parse: nothing is queued behind the caller

    def stop(self, timeout_s: float = 10.0) -> None:  # noqa: ARG002 - the Worker protocol's
        with self._lock:
            executor = self._executor
        executor.shutdown(wait=True, cancel_futures=True)
