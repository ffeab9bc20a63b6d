"""IngestService's claims: an id that two requests carry at the same time (two puller threads
reading one file, the puller and the API) is published once and counted accepted once."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import Callable

import orjson
import pytest

from ingest import service as service_module
from ingest.bus import BusUnavailable
from ingest.events import AuditEvent, Origin
from ingest.parse import ParsedBody
from ingest.runtime import Runtime
from ingest.service import IngestResult, IngestService
from tests.factories import make_record
from tests.publishers import held_service
from tests.wait import wait_until

PULLED = Origin("sqs:trail", trusted=True)
WAITS_S = 0.3  # seconds a second request must stay blocked to count as waiting


def in_thread(call: Callable[[], IngestResult]) -> tuple[threading.Thread, list[object]]:
    """Run `call` on its own thread; the list gets its result or the exception it raised."""
    out: list[object] = []

    def run() -> None:
        try:
            out.append(call())
        except Exception as exc:  # noqa: BLE001 - handed to the test to assert on
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def blocking(service: IngestService, parsed: ParsedBody) -> Callable[[], IngestResult]:
    return lambda: service.ingest_blocking(parsed, origin=PULLED, timeout_s=10)


def through_the_loop(service: IngestService, parsed: ParsedBody) -> Callable[[], IngestResult]:
    return lambda: asyncio.run(service.ingest_parsed(parsed, origin=PULLED))


@pytest.mark.parametrize(
    "second",
    [
        pytest.param(blocking, id="another puller thread"),
        pytest.param(through_the_loop, id="the API's event loop"),
    ],
)
def test_records_being_published_are_waited_for_and_counted_once_by_a_second_request(
    runtime: Runtime, second: Callable[[IngestService, ParsedBody], Callable[[], IngestResult]]
) -> None:
    service, publisher = held_service(runtime)
    records = [make_record(eventID=f"both-{i}") for i in range(3)]
    first, first_out = in_thread(blocking(service, ParsedBody(records, {})))
    wait_until(lambda: publisher.calls, what="the first publish")

    more = ParsedBody([*records, make_record(eventID="only-second")], {})
    later, later_out = in_thread(second(service, more))
    later.join(WAITS_S)
    assert later.is_alive(), "answered before the first copy of its records was durable"
    publisher.release()
    first.join(10)
    later.join(10)

    (a,), (b,) = first_out, later_out
    assert isinstance(a, IngestResult) and isinstance(b, IngestResult)
    assert (a.accepted, a.duplicates) == (3, 0)
    assert (b.accepted, b.duplicates) == (1, 3)
    assert publisher.calls == [3, 1]  # each event reached the bus once


def test_when_the_publish_waited_for_fails_the_waiter_fails_too_and_a_retry_stores_them(
    runtime: Runtime,
) -> None:
    """Counting the waiter's copies as duplicates of a publish that then failed would lose them."""
    service, publisher = held_service(runtime)
    parsed = ParsedBody([make_record(eventID=f"lost-{i}") for i in range(3)], {})
    first, first_out = in_thread(blocking(service, parsed))
    wait_until(lambda: publisher.calls, what="the first publish")
    later, later_out = in_thread(blocking(service, parsed))
    later.join(WAITS_S)
    assert later.is_alive()
    publisher.release(BusUnavailable("broker gone"))
    first.join(10)
    later.join(10)

    assert [type(e) for e in (*first_out, *later_out)] == [BusUnavailable, BusUnavailable]
    again = service.ingest_blocking(parsed, origin=PULLED)
    assert (again.accepted, again.duplicates) == (3, 0)
    assert publisher.calls == [3, 3]


@pytest.mark.parametrize(("encoding", "gzipped"), [("", False), ("gzip", True), ("", True)])
def test_a_large_body_is_encoded_for_the_bus_off_the_event_loop(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, encoding: str, gzipped: bool
) -> None:
    """Decide shares the API's event loop: a 1,000-record body's bus encoding (~1.4 ms) must
    run on the worker thread that normalises it, and only the records not stored yet go out.
    Gzip'd, the same records fit under the inline limit (a profile: 100 records are 17 KB
    gzip'd, 124 KB raw -- 1.9 ms of parsing on the loop at p50): compressed, they still go."""
    encoded_on: set[int] = set()
    encode = service_module.encode_event

    def recording(event: AuditEvent) -> bytes:
        encoded_on.add(threading.get_ident())
        return encode(event)

    monkeypatch.setattr(service_module, "encode_event", recording)
    service, publisher = held_service(runtime)
    records = [make_record(eventID=f"big-{i}") for i in range(400)]
    service.dedupe.add_all(["big-7", "big-300"])  # stored before: duplicates, not published
    body = orjson.dumps({"Records": records})
    if gzipped:  # with its Content-Encoding, or without (parse sniffs the magic bytes)
        body = gzip.compress(body)
        assert len(body) < service_module.INLINE_BODY_BYTES

    async def post() -> tuple[IngestResult, int]:
        return await service.ingest(body, encoding, origin=PULLED), threading.get_ident()

    def release() -> None:
        wait_until(lambda: publisher.calls, what="the publish")
        publisher.release()

    releaser = threading.Thread(target=release, daemon=True)
    releaser.start()
    result, loop_thread = asyncio.run(post())
    releaser.join(10)
    assert (result.accepted, result.duplicates) == (398, 2)
    assert publisher.calls == [398]
    assert encoded_on and loop_thread not in encoded_on
