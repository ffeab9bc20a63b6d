"""Ingest benchmark: gzip'd CloudTrail batches from concurrent clients into a real `leash up`.

Prints events/s acknowledged (202, durable), events/s stored (queryable), and -- in the same run --
the raw chDB `INSERT ... FORMAT JSONEachRow` rate of the same rows, plus chDB's Arrow insert rate.
"Stored" is read from the sink's own counter on `/metrics` (`leash_sink_events_total`, raised once
an insert has returned): polling `GET /v1/events` instead ran a `count() ... FINAL` over the table
every 50 ms in the process being measured (~24 ms each at 100k rows). One such count, after the
clock stops, checks that every event is queryable. The machine's load averages and the API
process's CPU seconds (from the first POST) are printed beside the rates: numbers from a shared
machine mean little without them.

    python -m bench.ingest_throughput --events 200000 --batch 1000 --clients 8
"""

from __future__ import annotations

import argparse
import gzip
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from bench.serving import gzip_json_headers, start_leash

DATASET = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "invictus-ir_aws_dataset"


def load_templates() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in sorted((DATASET / "CloudTrail").glob("*.json")):
        records.extend(orjson.loads(path.read_bytes())["Records"])
    if not records:
        sys.exit(f"no CloudTrail templates under {DATASET}")
    return records


def as_iam_user(record: dict[str, Any], name: Callable[[], str]) -> dict[str, Any]:
    """`record` made the IAM user's that `name()` names if an IAM user made it (other
    identities as they are; `name` is called only then): spreads the templates, nine tenths one
    user's, over as many principals as a bench needs."""
    identity = record.get("userIdentity")
    if isinstance(identity, dict) and identity.get("type") == "IAMUser":
        account, user = identity.get("accountId", "123456789012"), name()
        record["userIdentity"] = {
            **identity,
            "arn": f"arn:aws:iam::{account}:user/{user}",
            "userName": user,
        }
    return record


def make_bodies(
    templates: list[dict[str, Any]], total: int, batch: int
) -> tuple[list[bytes], list[dict[str, Any]]]:
    """Gzip'd bodies of fresh records (new eventIDs), built before the clock starts."""
    records = []
    for i in range(total):
        record = dict(templates[i % len(templates)])
        record["eventID"] = str(uuid.uuid4())
        records.append(record)
    bodies = [
        gzip.compress(orjson.dumps({"Records": records[i : i + batch]}), compresslevel=1)
        for i in range(0, total, batch)
    ]
    return bodies, records


STORED_COUNTER = "leash_sink_events"  # the sink's "events written to the store" counter
POLL_S = 0.05  # seconds between reads of /metrics while waiting for the stored count


def stored_from_metrics(text: str) -> int:
    """Events the sink has stored, from a Prometheus exposition of `GET /metrics`."""
    for family in text_string_to_metric_families(text):
        if family.name == STORED_COUNTER:
            return int(sum(s.value for s in family.samples if s.name == f"{STORED_COUNTER}_total"))
    raise LookupError(f"{STORED_COUNTER} is not among the metrics")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds the process `pid` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_s(pid: int) -> dict[int, float]:
    """CPU seconds so far of each child of `pid` (the detector child, the parse pool's
    processes; multiprocessing's resource tracker too, which uses next to none)."""
    listed = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    found = {}
    for child in map(int, listed):
        try:
            found[child] = process_cpu_s(child)
        except FileNotFoundError:  # gone meanwhile
            continue
    return found


def bench_leash(
    bodies: list[bytes], total: int, clients: int, port: int
) -> tuple[float, float, float, float]:
    """Events/s acknowledged and stored, and the CPU seconds of the API process and of its
    children (detector, parse pool) from the first POST until all were stored (start-up left
    out)."""
    key = "bench-key"
    with tempfile.TemporaryDirectory() as tmp:
        proc = start_leash(Path(tmp) / "data", port, {"LEASH_API_KEYS": f"{key}:admin"})
        url = f"http://127.0.0.1:{port}"
        headers = gzip_json_headers(key)
        try:
            with httpx.Client(
                base_url=url,
                headers=headers,
                timeout=120,
                limits=httpx.Limits(max_connections=clients),
            ) as client:
                started, cpu_started_s = time.perf_counter(), process_cpu_s(proc.pid)
                children_started = children_cpu_s(proc.pid)
                with ThreadPoolExecutor(clients) as pool:
                    accepted = sum(
                        pool.map(
                            lambda body: client.post("/v1/events", content=body).json()["accepted"],
                            bodies,
                        )
                    )
                acked_s = time.perf_counter() - started
                while stored_from_metrics(client.get("/metrics").text) < total:
                    time.sleep(POLL_S)
                stored_s = time.perf_counter() - started
                cpu_s = process_cpu_s(proc.pid) - cpu_started_s
                children_s = sum(
                    cpu - children_started.get(child, 0.0)
                    for child, cpu in children_cpu_s(proc.pid).items()
                )
                queryable = client.get("/v1/events", params={"limit": 1}).json()["total"]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    assert accepted == total, f"accepted {accepted} of {total}"
    assert queryable == total, f"the sink counted {total} stored, a query finds {queryable}"
    return total / acked_s, total / stored_s, cpu_s, children_s


def bench_raw_chdb(records: list[dict[str, Any]]) -> tuple[float, float]:
    """The same rows straight into chDB: JSONEachRow (the issue's yardstick) and Arrow."""
    from datetime import UTC, datetime

    from ingest.events import Normalizer
    from ingest.migrate import apply_migrations
    from ingest.sink.writer import STORED_COLUMNS, event_row
    from ingest.store.chdb import ChdbStore

    normalizer = Normalizer()
    now = datetime.now(UTC)
    rows = [event_row(normalizer.normalize(r), now, "bench") for r in records]
    lines = b"\n".join(
        orjson.dumps(
            {
                c: (v.strftime("%Y-%m-%d %H:%M:%S.%f")[:23] if isinstance(v, datetime) else v)
                for c, v in zip(STORED_COLUMNS, row, strict=True)
            }
        )
        for row in rows
    )
    with tempfile.TemporaryDirectory() as tmp:
        store = ChdbStore(tmp)
        apply_migrations(store)
        started = time.perf_counter()
        store._session.query(  # type: ignore[no-untyped-call]
            f"INSERT INTO events FORMAT JSONEachRow {lines.decode()}", "Null"
        )
        json_rate = len(rows) / (time.perf_counter() - started)
        store.command("TRUNCATE TABLE events")
        started = time.perf_counter()
        for i in range(0, len(rows), 5000):
            store.insert("events", rows[i : i + 5000], STORED_COLUMNS)
        arrow_rate = len(rows) / (time.perf_counter() - started)
        store.close()
    return json_rate, arrow_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000, help="records per POST")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument("--port", type=int, default=18765)
    args = parser.parse_args()
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    bodies, records = make_bodies(load_templates(), args.events, args.batch)
    acked, stored, cpu_s, children_s = bench_leash(bodies, args.events, args.clients, args.port)
    json_rate, arrow_rate = bench_raw_chdb(records)
    print(f"events: {args.events}, batch: {args.batch}, clients: {args.clients}")
    print(f"leash acknowledged (durable 202): {acked:>10,.0f} events/s")
    print(f"leash stored (queryable):         {stored:>10,.0f} events/s")
    print(f"API process CPU, POSTs to stored:  {cpu_s:>10.1f} s")
    print(f"its children's CPU (detector, parse pool): {children_s:>5.1f} s")
    print(f"raw chDB JSONEachRow insert:      {json_rate:>10,.0f} events/s")
    print(f"raw chDB Arrow insert:            {arrow_rate:>10,.0f} events/s")
    print(f"ratio leash stored / raw JSONEachRow: {stored / json_rate:.2f}x")
    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
