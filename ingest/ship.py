"""The collector behind `leash ship`: files, directories, .gz, NDJSON, stdin -> POST /v1/events."""

from __future__ import annotations

import gzip
import logging
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from ingest.parse import decompress, parse_records

__all__ = ["ShipSummary", "Shipper", "iter_sources"]

logger = logging.getLogger(__name__)

SHIPPABLE_SUFFIXES = (".json", ".jsonl", ".ndjson", ".cloudtrail", ".gz", ".log")
ARCHIVE_SUFFIXES = (".zip",)
MAX_FILE_BYTES = 512 * 1024 * 1024  # bytes; a larger single file is refused, not read into memory


class RetryableError(RuntimeError):
    """A send that may succeed later (connection refused, 429, 503...)."""


@dataclass
class Rejection:
    source: str
    index: int
    error: str


@dataclass(frozen=True)
class Batch:
    source: str
    indexes: list[int]  # position of each record of the batch in its source
    body: bytes  # gzip'd JSON array


@dataclass
class ShipSummary:
    files: int = 0
    skipped_files: list[str] = field(default_factory=list)
    records: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rejected(self) -> int:
        return len(self.rejections)


def iter_sources(paths: list[str]) -> Iterator[Path | None]:
    """Files to ship, directories expanded recursively in sorted order; `-` yields None (stdin)."""
    for raw in paths:
        if raw == "-":
            yield None
            continue
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def is_shippable(name: str) -> bool:
    name = name.lower().rsplit("/", 1)[-1]
    return name.endswith(SHIPPABLE_SUFFIXES + ARCHIVE_SUFFIXES) and not name.startswith(".")


def read_sources(path: Path | None) -> Iterator[tuple[str, bytes]]:
    """(label, bytes) of a file, of stdin, or of each shippable member of a .zip archive."""
    if path is None:
        yield "<stdin>", _gunzip(sys.stdin.buffer.read())
    elif path.name.lower().endswith(ARCHIVE_SUFFIXES):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.is_dir() and is_shippable(info.filename):
                    if info.file_size > MAX_FILE_BYTES:
                        raise ValueError(f"{info.filename} is larger than {MAX_FILE_BYTES} bytes")
                    yield f"{path}!{info.filename}", _gunzip(archive.read(info))
    else:
        yield str(path), _gunzip(path.read_bytes())


def _gunzip(data: bytes) -> bytes:
    return decompress(data, limit=MAX_FILE_BYTES) if data[:2] == b"\x1f\x8b" else data


class Shipper:
    """Splits sources into batches, gzips them and posts them with retries and backoff."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        batch_size: int = 1000,
        concurrency: int = 4,
        attempts: int = 8,
        timeout_s: float = 60.0,
    ) -> None:
        self._endpoint = url.rstrip("/") + "/v1/events"
        self._client = httpx.Client(
            timeout=timeout_s,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
            },
            limits=httpx.Limits(max_connections=concurrency),
        )
        self.batch_size = batch_size
        self.concurrency = concurrency
        self._attempts = attempts
        self._lock = threading.Lock()  # sends finish on pool threads; the summary is shared

    def close(self) -> None:
        self._client.close()

    def _post(self, body: bytes) -> dict[str, Any]:
        for attempt in Retrying(
            retry=retry_if_exception_type(RetryableError),
            wait=wait_exponential_jitter(initial=0.2, max=10),
            stop=stop_after_attempt(self._attempts),
            reraise=True,
        ):
            with attempt:
                try:
                    response = self._client.post(self._endpoint, content=body)
                except httpx.TransportError as exc:
                    raise RetryableError(f"cannot reach {self._endpoint}: {exc}") from exc
                if response.status_code in (429, 502, 503, 504):
                    retry_after = response.headers.get("retry-after", "")
                    if retry_after.isdigit():
                        time.sleep(min(int(retry_after), 30))
                    raise RetryableError(f"{response.status_code}: {response.text[:200]}")
                if response.status_code in (401, 403):
                    raise PermissionError(
                        f"{response.status_code} from Leash: {response.json().get('detail')}; "
                        "pass --api-key or set LEASH_API_KEY to a key with the ingest scope"
                    )
                if response.status_code != 202:
                    raise RuntimeError(f"{response.status_code} from Leash: {response.text[:500]}")
                result: dict[str, Any] = response.json()
                return result
        raise AssertionError("unreachable")

    def post_records(self, records: list[Any]) -> dict[str, Any]:
        """POST one batch of records (gzip'd JSON array); the API's answer once durable.

        Raises RetryableError when Leash stayed unreachable or busy through every attempt."""
        return self._post(gzip.compress(orjson.dumps(records), compresslevel=1))

    def batches(self, label: str, data: bytes, summary: ShipSummary) -> Iterator[Batch]:
        """Batches of one source; records that are not even JSON become rejections here."""
        try:
            parsed = parse_records(data)
        except ValueError as exc:
            summary.rejections.append(Rejection(label, -1, str(exc)))
            return
        for index, error in parsed.errors.items():
            summary.rejections.append(Rejection(label, index, error))
        good = [(i, r) for i, r in enumerate(parsed.records) if i not in parsed.errors]
        summary.records += len(parsed.records)
        for start in range(0, len(good), self.batch_size):
            chunk = good[start : start + self.batch_size]
            body = gzip.compress(orjson.dumps([r for _, r in chunk]), compresslevel=1)
            yield Batch(label, [i for i, _ in chunk], body)

    def send(self, batch: Batch, summary: ShipSummary) -> None:
        result = self._post(batch.body)
        with self._lock:
            self._count(batch, result, summary)

    @staticmethod
    def _count(batch: Batch, result: dict[str, Any], summary: ShipSummary) -> None:
        summary.accepted += int(result["accepted"])
        summary.duplicates += int(result["duplicates"])
        for rejected in result["rejected"]:
            original = batch.indexes[int(rejected["index"])]
            error = str(rejected["error"]).split(": ", 1)[-1]
            summary.rejections.append(Rejection(batch.source, original, error))

    def ship(self, paths: list[str], progress: Any = None) -> ShipSummary:
        summary = ShipSummary()
        started = time.perf_counter()
        with ThreadPoolExecutor(self.concurrency) as pool:
            futures = []
            for source in iter_sources(paths):
                if source is not None and not is_shippable(source.name):
                    summary.skipped_files.append(str(source))
                    continue
                try:
                    for label, data in read_sources(source):
                        summary.files += 1
                        for item in self.batches(label, data, summary):
                            futures.append(pool.submit(self.send, item, summary))
                except (OSError, ValueError, zipfile.BadZipFile) as exc:
                    label = "<stdin>" if source is None else str(source)
                    summary.rejections.append(Rejection(label, -1, f"cannot read: {exc}"))
                if progress is not None:
                    progress(summary, time.perf_counter() - started)
                futures = _reap(futures, keep=self.concurrency * 4)
            _reap(futures, keep=0)
        summary.seconds = time.perf_counter() - started
        if progress is not None:
            progress(summary, summary.seconds)
        return summary


def _reap(futures: list[Any], *, keep: int) -> list[Any]:
    """Wait for the oldest sends until at most `keep` are in flight; re-raise their errors."""
    while len(futures) > keep:
        futures.pop(0).result()
    return futures
