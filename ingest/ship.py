"""The collector behind `leash ship`: files, directories, .gz, NDJSON, stdin -> POST /v1/events."""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
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

from ingest.parse import decompress, gzipped, parse_records

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
    digests: int = 0  # CloudTrail digest files: hashes of log files, not events
    resumed: int = 0  # S3 objects a checkpoint says were shipped before
    records: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rejected(self) -> int:
        return len(self.rejections)


def iter_sources(paths: list[str]) -> Iterator[Path | None]:
    """Files to ship, directories expanded recursively in sorted order; `-` yields None (stdin).

    `s3://` URLs are not local sources: Shipper.ship reads them through S3Source."""
    for raw in paths:
        if raw.startswith("s3://"):
            continue
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


def is_digest_file(name: str, records: list[Any] | None = None) -> bool:
    """A CloudTrail digest file: by its path (CloudTrail-Digest/ or _CloudTrail-Digest_), or by
    its content (one object with digestStartTime and digestEndTime)."""
    if "CloudTrail-Digest" in name:
        return True
    return (
        records is not None
        and len(records) == 1
        and isinstance(records[0], dict)
        and "digestStartTime" in records[0]
        and "digestEndTime" in records[0]
    )


class S3Source:
    """Objects under s3://bucket/prefix, listed in key order and read `concurrency` at a time,
    with a checkpoint of the keys whose every record was acknowledged (resume = skip those)."""

    def __init__(self, url: str, s3: Any, *, concurrency: int, checkpoint: Path) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"{url}: expected s3://bucket[/prefix]")
        self.url, self.bucket, self.prefix = url, bucket, prefix
        self._s3 = s3
        self.concurrency = concurrency
        self.checkpoint = checkpoint
        self.done: set[str] = set()
        if checkpoint.exists():
            self.done = {line for line in checkpoint.read_text().splitlines() if line}
        self._lock = threading.Lock()

    def list_keys(self) -> Iterator[tuple[str, int]]:
        """(key, size) of every object under the prefix, in key order."""
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        listing = iter(pages)
        while True:
            try:
                page = next(listing)
            except StopIteration:
                return
            except Exception as exc:  # noqa: BLE001 - botocore's errors: no bucket, credentials
                raise RuntimeError(
                    f"cannot list {self.url}: {exc}; check the AWS credentials (AWS_PROFILE, "
                    "AWS_ACCESS_KEY_ID…), AWS_DEFAULT_REGION and that they allow s3:ListBucket"
                ) from None
            for item in page.get("Contents", ()):
                yield str(item["Key"]), int(item.get("Size", 0))

    def label(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def read(self, key: str) -> bytes:
        return _gunzip(self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def finished(self, label: str) -> None:
        """Every record of this object was acknowledged: never ship it again."""
        key = label.removeprefix(f"s3://{self.bucket}/")
        with self._lock:
            self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
            with self.checkpoint.open("a") as handle:
                handle.write(key + "\n")
            self.done.add(key)


def default_checkpoint(url: str, destination: str) -> Path:
    """Where `leash ship s3://…` remembers finished keys: one file per source URL and Leash
    destination (shipping the same prefix to staging and then to production ships it twice),
    under the user's cache."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    digest = hashlib.sha256(f"{url}\n{destination}\n{endpoint}".encode()).hexdigest()[:16]
    return base / "leash" / "ship" / f"{digest}.done"


def _gunzip(data: bytes) -> bytes:
    return decompress(data, limit=MAX_FILE_BYTES) if gzipped(data) else data


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
        if is_digest_file(label, parsed.records):
            summary.digests += 1
            summary.files -= 1  # counted as a digest, not as a log file
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

    def ship(
        self,
        paths: list[str],
        progress: Any = None,
        *,
        s3: Any = None,
        checkpoint: Path | None = None,
    ) -> ShipSummary:
        """Ship local paths and `s3://bucket/prefix` URLs (read with the boto3 client `s3`;
        finished keys go to `checkpoint`, default per URL under ~/.cache/leash/ship)."""
        summary = ShipSummary()
        started = time.perf_counter()

        def tick() -> None:
            if progress is not None:
                progress(summary, time.perf_counter() - started)

        with ThreadPoolExecutor(self.concurrency) as pool:
            futures: list[Any] = []
            for source in iter_sources(paths):
                if source is not None and not is_shippable(source.name):
                    summary.skipped_files.append(str(source))
                    continue
                if source is not None and is_digest_file(str(source)):
                    summary.digests += 1
                    continue
                try:
                    for label, data in read_sources(source):
                        summary.files += 1
                        for item in self.batches(label, data, summary):
                            futures.append(pool.submit(self.send, item, summary))
                except (OSError, ValueError, zipfile.BadZipFile) as exc:
                    label = "<stdin>" if source is None else str(source)
                    summary.rejections.append(Rejection(label, -1, f"cannot read: {exc}"))
                tick()
                futures = _reap(futures, keep=self.concurrency * 4)
            for url in (p for p in paths if p.startswith("s3://")):
                if s3 is None:
                    raise ValueError(f"{url}: shipping from S3 needs an S3 client")
                bucket = S3Source(
                    url,
                    s3,
                    concurrency=self.concurrency,
                    checkpoint=checkpoint or default_checkpoint(url, self._endpoint),
                )
                futures = self._ship_s3(bucket, pool, futures, summary, tick)
            _reap(futures, keep=0)
        summary.seconds = time.perf_counter() - started
        tick()
        return summary

    def _ship_s3(
        self,
        bucket: S3Source,
        pool: ThreadPoolExecutor,
        futures: list[Any],
        summary: ShipSummary,
        tick: Callable[[], None],
    ) -> list[Any]:
        """Objects read `concurrency` at a time (in key order), their batches sent on `pool`;
        a key enters the checkpoint once all its batches were acknowledged."""

        def finished(label: str) -> None:
            # a key with rejected records stays out of the checkpoint: a rerun reports them again
            with self._lock:
                clean = not any(r.source == label for r in summary.rejections)
            if clean:
                bucket.finished(label)

        tracker = _Tracker(finished)
        wanted = []
        for key, size in bucket.list_keys():
            if key in bucket.done:
                summary.resumed += 1
            elif is_digest_file(key):
                summary.digests += 1
            elif not is_shippable(key):
                summary.skipped_files.append(bucket.label(key))
            elif size > MAX_FILE_BYTES:
                summary.rejections.append(
                    Rejection(bucket.label(key), -1, f"larger than {MAX_FILE_BYTES} bytes")
                )
            else:
                wanted.append(key)
        with ThreadPoolExecutor(bucket.concurrency, thread_name_prefix="s3-read") as readers:
            reads = _prefetch(readers, bucket.read, wanted, ahead=bucket.concurrency * 2)
            for key, read in reads:
                label = bucket.label(key)
                try:
                    data = read.result()
                except Exception as exc:  # noqa: BLE001 - one unreadable object, not the run
                    summary.rejections.append(Rejection(label, -1, f"cannot read: {exc}"))
                    continue
                summary.files += 1
                batches = list(self.batches(label, data, summary))
                sends = [pool.submit(self.send, item, summary) for item in batches]
                tracker.watch(label, sends)
                futures.extend(sends)
                tick()
                futures = _reap(futures, keep=self.concurrency * 4)
        return futures


class _Tracker:
    """Calls `finished(label)` once every future of a label succeeded (at once for none)."""

    def __init__(self, finished: Callable[[str], None]) -> None:
        self._finished = finished
        self._left: dict[str, int] = {}
        self._failed: set[str] = set()
        self._lock = threading.Lock()

    def watch(self, label: str, futures: list[Any]) -> None:
        if not futures:
            self._finished(label)
            return
        with self._lock:
            self._left[label] = len(futures)
        for future in futures:
            future.add_done_callback(lambda f, label=label: self._done(label, f))

    def _done(self, label: str, future: Any) -> None:
        with self._lock:
            if future.exception() is not None:
                self._failed.add(label)
            self._left[label] -= 1
            complete = self._left[label] == 0 and label not in self._failed
        if complete:
            self._finished(label)


def _prefetch(
    pool: ThreadPoolExecutor, read: Callable[[str], bytes], keys: list[str], *, ahead: int
) -> Iterator[tuple[str, Any]]:
    """(key, future of its bytes) in key order, at most `ahead` reads in flight."""
    pending: list[tuple[str, Any]] = []
    for key in keys:
        pending.append((key, pool.submit(read, key)))
        if len(pending) > ahead:
            yield pending.pop(0)
    yield from pending


def _reap(futures: list[Any], *, keep: int) -> list[Any]:
    """Wait for the oldest sends until at most `keep` are in flight; re-raise their errors."""
    while len(futures) > keep:
        futures.pop(0).result()
    return futures
