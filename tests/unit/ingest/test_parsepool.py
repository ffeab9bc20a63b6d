"""The parse pool: real CloudTrail bodies parsed in spawned processes give the API process the
same ids, bus records and errors as parsing them in-process; a process killed with -9 loses no
request and is replaced."""

from __future__ import annotations

import asyncio
import gzip
import os
import signal
import threading
import time
from collections.abc import Iterator

import orjson
import pytest

from ingest.auth import BindingCheck
from ingest.events import Origin, decode_event
from ingest.parse import BodyTooLarge
from ingest.parsepool import MAX_RESTARTS, ParseConfig, ParsePool
from ingest.runtime import Runtime
from ingest.service import IngestResult, TooManyRecords, UnsupportedEncoding
from ingest.settings import IdentitySettings, Settings
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


@pytest.fixture
def pool(settings: Settings) -> Iterator[ParsePool]:
    started = ParsePool(ParseConfig.from_settings(settings), processes=1).start()
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
    pool = ParsePool(ParseConfig.from_settings(limited), processes=1).start()
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
    wait_until(pool.ready, timeout_s=30)  # the new pool starts in the background
    third = asyncio.run(pool.parse(body, "gzip", None, PUSHED))
    assert third is not None and len(third.ids) == 100
    assert pool.pids() and victim not in pool.pids()


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_a_pool_process_parses_with_the_servers_identity_and_skew_settings(
    settings: Settings,
) -> None:
    """Kinds and the clock check come from the settings, not the defaults: an organisation whose
    agents run Terraform, and a sender whose clock is two days ahead, within its skew."""
    records = real_records(400)
    ahead = dict(records[0], eventID="two-days-ahead")
    ahead["eventTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2 * 86400))
    body = gzip.compress(orjson.dumps([*records, ahead]))
    clis = sum("Terraform/" in str(r.get("userAgent", "")) for r in records)
    assert clis, "the test needs records sent by Terraform"

    def kinds_and_rejected(custom: Settings) -> tuple[int, int]:
        pool = ParsePool(ParseConfig.from_settings(custom), processes=1).start()
        try:
            result = asyncio.run(pool.parse(body, "gzip", None, PUSHED))
        finally:
            pool.stop()
        assert result is not None
        agents = sum(decode_event(v).actor_kind == "agent" for _, v in result.messages)
        return agents, len(result.rejected)

    assert kinds_and_rejected(settings) == (0, 1)  # the defaults: people, and a clock too fast
    custom = settings.model_copy(
        update={
            "identity": IdentitySettings(agent_user_agent_patterns=[r"Terraform/"]),
            "max_future_skew_s": 3 * 86400.0,
        }
    )
    agents, rejected = kinds_and_rejected(custom)
    assert agents >= clis and rejected == 0


def parsing_in(pool: ParsePool, runtime: Runtime, records: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    """Ingest a large body through `runtime`'s service on a thread; returns once a pool
    process is busy parsing it (its CPU time grew), with the thread and its result list."""
    runtime.service.pool = pool
    [pid] = pool.pids()
    before = _cpu_ticks(pid)
    body = gzip.compress(orjson.dumps(records))
    out: list[object] = []

    def run() -> None:
        try:
            out.append(asyncio.run(runtime.service.ingest(body, "gzip", origin=PUSHED)))
        except Exception as exc:  # noqa: BLE001 - handed to the test
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_until(lambda: _cpu_ticks(pid) > before + 5, timeout_s=30)  # 50 ms into the parse
    return pid, thread, out


def many_fresh(count: int, tag: str) -> list[dict[str, object]]:
    base = real_records(500)
    return [dict(base[i % len(base)], eventID=f"{tag}-{i}") for i in range(count)]


def test_a_pool_process_killed_mid_parse_fails_no_request(
    runtime: Runtime, pool: ParsePool
) -> None:
    records = many_fresh(30_000, "mid-parse")
    pid, thread, out = parsing_in(pool, runtime, records)
    os.kill(pid, signal.SIGKILL)
    thread.join(120)

    [result] = out
    assert isinstance(result, IngestResult), result
    assert result.accepted == len(records) and not result.rejected  # parsed on a thread
    assert pool.restarts == 1
    wait_until(pool.ready, timeout_s=30)  # the new pool started in the background
    assert pid not in pool.pids()


def test_ctrl_c_lets_a_pool_process_finish_its_parse(runtime: Runtime, pool: ParsePool) -> None:
    records = many_fresh(30_000, "ctrl-c")
    pid, thread, out = parsing_in(pool, runtime, records)
    os.kill(pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
    thread.join(120)

    [result] = out
    assert isinstance(result, IngestResult), result
    assert result.accepted == len(records)
    assert pool.restarts == 0 and pool.pids() == [pid]


def test_a_parse_failing_after_stop_starts_no_new_pool(runtime: Runtime, pool: ParsePool) -> None:
    records = many_fresh(30_000, "after-stop")
    pid, thread, out = parsing_in(pool, runtime, records)
    stopping = threading.Thread(target=pool.stop)  # waits for the parse in flight
    stopping.start()
    wait_until(lambda: not pool.ready())
    os.kill(pid, signal.SIGKILL)  # ... which then fails
    thread.join(120)
    stopping.join(30)

    [result] = out
    assert isinstance(result, IngestResult) and result.accepted == len(records)
    assert pool.restarts == 0 and pool.pids() == []


def test_a_stopped_pool_starts_no_process_again(pool: ParsePool) -> None:
    body = gzip.compress(orjson.dumps(real_records(20)))
    [pid] = pool.pids()
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not _running(pid), timeout_s=10)
    pool.stop()

    assert asyncio.run(pool.parse(body, "gzip", None, PUSHED)) is None  # a thread parses it
    assert asyncio.run(pool.parse(body, "gzip", None, PUSHED)) is None
    assert pool.restarts == 0 and not pool.ready()


def test_a_pool_that_keeps_breaking_is_given_up_on(pool: ParsePool) -> None:
    body = gzip.compress(orjson.dumps(real_records(20)))
    for _ in range(MAX_RESTARTS + 1):
        wait_until(pool.ready, timeout_s=30)
        for pid in pool.pids():
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: asyncio.run(pool.parse(body, "gzip", None, PUSHED)) is None)

    assert pool.restarts == MAX_RESTARTS
    time.sleep(1.0)
    assert not pool.ready() and asyncio.run(pool.parse(body, "gzip", None, PUSHED)) is None


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])
