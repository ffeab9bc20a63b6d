"""The parse pool: real CloudTrail bodies parsed in spawned processes give the API process the
same ids, bus records and errors as parsing them in-process; a process killed with -9 loses no
request and is replaced."""

from __future__ import annotations

import asyncio
import gzip
import os
import signal
from collections.abc import Iterator

import orjson
import pytest

from ingest.auth import BindingCheck
from ingest.events import Origin, decode_event
from ingest.parse import BodyTooLarge
from ingest.parsepool import ParseConfig, ParsePool
from ingest.runtime import Runtime
from ingest.service import IngestResult, TooManyRecords, UnsupportedEncoding
from ingest.settings import Settings
from tests.aws_local import invictus_files
from tests.wait import wait_until

PUSHED = Origin("http:collector", trusted=False)


def real_records(count: int) -> list[dict[str, object]]:
    records: list[dict[str, object]] = []
    for path in invictus_files():
        records.extend(orjson.loads(path.read_bytes())["Records"])
        if len(records) >= count:
            break
    return records[:count]


def config_of(settings: Settings) -> ParseConfig:
    return ParseConfig(
        settings.identity,
        settings.max_future_skew_s,
        settings.max_decompressed_bytes,
        settings.max_records_per_request,
    )


@pytest.fixture
def pool(settings: Settings) -> Iterator[ParsePool]:
    started = ParsePool(config_of(settings), processes=1).start()
    yield started
    started.stop()


def a_body() -> bytes:
    """200 real records, two of them twice, and three the normaliser refuses, gzip'd."""
    records: list[object] = list(real_records(200))
    records[10:10] = [records[3], records[7]]  # repeated ids inside one body
    records.insert(50, "not an object")
    records.insert(90, {"eventName": "DeleteBucket"})  # no eventTime, no identity
    future = dict(records[120])  # type: ignore[arg-type]
    future["eventTime"] = "2999-01-01T00:00:00Z"
    future["eventID"] = "from-the-future"
    records.insert(120, future)
    return gzip.compress(orjson.dumps({"Records": records}))


def test_a_pool_process_gives_what_parsing_here_gives(runtime: Runtime, pool: ParsePool) -> None:
    body = a_body()
    here = runtime.service.parse_and_normalize(body, "gzip", origin=PUSHED)
    there = asyncio.run(pool.parse(body, "gzip", None, PUSHED))

    assert isinstance(there, IngestResult)
    assert len(here.ids) == 200 and here.duplicates == 2 and len(here.rejected) == 3
    assert there.ids == here.ids
    assert there.messages == here.messages
    assert there.rejected == here.rejected
    assert (there.duplicates, there.unbound) == (here.duplicates, here.unbound)
    assert there.events == []  # the API process needs ids and bus records only
    # the bus records decode to the events parsed here, stamped with the request's origin
    assert [decode_event(value) for _, value in there.messages] == here.events
    assert {decode_event(value).origin for _, value in there.messages} == {"http:collector"}


def test_a_bound_keys_check_runs_in_the_pool_process(runtime: Runtime, pool: ParsePool) -> None:
    by_principal: dict[str, list[dict[str, object]]] = {}
    for record in real_records(3000):
        by_principal.setdefault(runtime.normalizer.normalize(record).principal, []).append(record)
    assert len(by_principal) > 1, "the test needs records of more than one principal"
    allowed, other = sorted(by_principal, key=lambda p: -len(by_principal[p]))[:2]
    records = by_principal[allowed][:30] + by_principal[other][:10]
    check = BindingCheck(f"key 'bound' is bound to principals {allowed}", (allowed,), ())
    body = gzip.compress(orjson.dumps(records))

    there = asyncio.run(pool.parse(body, "gzip", check, PUSHED))
    here = runtime.service.parse_and_normalize(body, "gzip", check, origin=PUSHED)

    assert there is not None
    assert there.unbound == here.unbound > 0
    assert there.rejected == here.rejected
    assert there.ids == here.ids and there.ids
    assert {decode_event(v).principal for _, v in there.messages} == {allowed}
    assert "send it with a key bound to that principal" in there.rejected[0]["error"]


@pytest.mark.parametrize(
    ("body", "encoding", "error"),
    [
        pytest.param(b"\x1f\x8b\x08not gzip at all", "gzip", ValueError, id="broken gzip"),
        pytest.param(b"[1, 2", "", ValueError, id="broken JSON"),
        pytest.param(b"[]", "br", UnsupportedEncoding, id="brotli"),
        pytest.param(
            gzip.compress(b"[" + b" " * 3_000_000 + b"]"), "gzip", BodyTooLarge, id="gzip bomb"
        ),
        pytest.param(orjson.dumps([{}] * 11), "", TooManyRecords, id="too many records"),
    ],
)
def test_a_bodys_own_error_comes_back_as_parsing_here_raises_it(
    runtime: Runtime, settings: Settings, body: bytes, encoding: str, error: type[Exception]
) -> None:
    limited = settings.model_copy(
        update={"max_records_per_request": 10, "max_decompressed_bytes": 2**20}
    )
    pool = ParsePool(config_of(limited), processes=1).start()
    try:
        with pytest.raises(error) as there:
            asyncio.run(pool.parse(body, encoding, None, PUSHED))
    finally:
        pool.stop()
    here = runtime.service.parser
    if error in (TooManyRecords, BodyTooLarge):
        here = type(here)(runtime.normalizer, max_decompressed_bytes=2**20, max_records=10)
    with pytest.raises(error) as local:
        here.parse_and_normalize(body, encoding, origin=PUSHED)
    assert str(there.value) == str(local.value)


def test_a_killed_pool_process_loses_no_request_and_is_replaced(
    runtime: Runtime, pool: ParsePool
) -> None:
    runtime.service.pool = pool
    body = gzip.compress(orjson.dumps({"Records": real_records(100)}))
    first = asyncio.run(runtime.service.ingest(body, "gzip", origin=PUSHED))
    assert first.accepted == 100

    [victim] = pool.pids()
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: not _running(victim), timeout_s=10)
    fresh = [dict(r, eventID=f"after-kill-{i}") for i, r in enumerate(real_records(100))]
    second = asyncio.run(
        runtime.service.ingest(gzip.compress(orjson.dumps(fresh)), "gzip", origin=PUSHED)
    )

    # the request made while the pool was broken was parsed on a thread: nothing lost
    assert second.accepted == 100 and not second.rejected
    assert pool.restarts == 1
    third = asyncio.run(pool.parse(body, "gzip", None, PUSHED))
    assert third is not None and len(third.ids) == 100
    assert pool.pids() and victim not in pool.pids()


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False
