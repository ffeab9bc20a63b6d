"""The compose roles on their own: `leash serve`, `leash sink` and `leash detect` drain on SIGTERM
exactly like on Ctrl-C, and a second signal does not cut the drain short.

Each role is its own process on a Kafka-protocol broker (Tansu), as in compose.yaml. The store is
either one ClickHouse server all roles share, as in compose.yaml (Docker: skipped where none
runs), or, on every machine, an embedded chDB per role: chDB belongs to one process, so each role
then has a store of its own in its data folder, read once the role has exited.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ingest import schema
from ingest.bus.kafka import KafkaBus
from ingest.events import encode_event
from ingest.store import open_store
from tests.contract.kafka_broker import TansuBroker, fast_kafka_settings
from tests.e2e.conftest import LeashProcess, start_leash
from tests.e2e.kafka_helpers import Message, committed_offsets, kafka_env, read_topic, tansu_broker
from tests.factories import make_event, make_record
from tests.integration.containers import clickhouse_server_url, docker_images
from tests.ports import free_port
from tests.unit.detect.response.test_webhooks import WebhookReceiver

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]
__all__ = ["clickhouse_server_url", "docker_images", "tansu_broker"]  # fixtures, for pytest

EXIT_TIMEOUT_S = 90.0  # seconds; a generous bound on a drain, 2 shared cores included
WAIT_S = 120.0  # seconds; hang guard for waits that normally take a few
EXIT_CODES = {signal.SIGTERM: 0, signal.SIGINT: 130}  # what `leash up` exits with after each
DRAINING = "stopping: draining"
STOPPED = "stopped cleanly: workers drained"
SINK_GROUP, DETECT_GROUP = "leash-sink", "leash-detect"
SIGNALS = [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGINT, id="SIGINT")]


@dataclass
class Role:
    """One `leash <role>` process: its data folder (with its embedded store) and its log."""

    name: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path
    api: LeashProcess | None = None  # `serve` only

    def wait_logged(self, text: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while text not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited without logging {text!r}")
            assert time.monotonic() < deadline, f"{self.name} never logged {text!r}"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start_serve(root: Path, env: dict[str, str]) -> Role:
    (root / "serve").mkdir()
    api = start_leash(root / "serve" / "data", extra_env=env, command=("serve",))
    return Role("serve", api.data_dir, api.process, api.log, api)


def spawn_worker(role: str, root: Path, env: dict[str, str]) -> Role:
    """`leash sink` or `leash detect` (no HTTP): running once it logs so; see `wait_logged`."""
    data_dir = root / role / "data"
    data_dir.mkdir(parents=True)
    log = data_dir.parent / f"{role}.log"
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "leash.cli", role, "--data-dir", str(data_dir)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
    return Role(role, data_dir, process, log)


@pytest.fixture
def roles() -> Iterator[list[Role]]:
    """The roles a test starts; any still running at its end is killed."""
    started: list[Role] = []
    yield started
    for role in started:
        role.kill()


def signal_twice(roles: Sequence[Role], sig: int) -> None:
    """`sig` to every role, and once more while each drains; each must then exit as `leash up`
    does after that signal, having logged a clean stop."""
    for role in roles:
        role.process.send_signal(sig)
    drained(roles, sig)


def drained(roles: Sequence[Role], sig: int) -> None:
    """Roles already sent `sig`: once more while each drains, then each must exit as `leash up`
    does after that signal, having logged a clean stop."""
    for role in roles:
        role.wait_logged(DRAINING)
        role.process.send_signal(sig)  # (a role already gone is not signalled)
    for role in roles:
        assert role.process.wait(timeout=EXIT_TIMEOUT_S) == EXIT_CODES[sig], role.log.read_text()
        log = role.log.read_text()
        assert STOPPED in log and "Traceback" not in log, log


STORE_READER = """
import json, sys
from ingest.store.chdb import ChdbStore
store = ChdbStore(sys.argv[1])
queries = json.loads(sys.argv[2])
rows = {name: [list(row) for row in store.query(sql)] for name, sql in queries.items()}
store.close()
print(json.dumps(rows, default=str))
"""


@pytest.fixture(
    params=["chdb", pytest.param("clickhouse", marks=pytest.mark.integration)],
)
def store_url(request: pytest.FixtureRequest) -> str:
    """LEASH_STORE_URL of the roles: "" (each its own embedded chDB), or one database of a
    ClickHouse server that all of them share (Docker)."""
    if request.param == "chdb":
        return ""
    server = request.getfixturevalue("clickhouse_server_url")
    return f"{server}/leash_{uuid.uuid4().hex[:8]}"


def read_rows(role: Role, store_url: str, **queries: str) -> dict[str, list[list[Any]]]:
    """Rows of the store `role` wrote to: the shared server's, or its own embedded one."""
    if not store_url:
        return read_store(role, **queries)
    store = open_store(store_url)
    try:
        return {name: [list(row) for row in store.query(sql)] for name, sql in queries.items()}
    finally:
        store.close()


def read_store(role: Role, **queries: str) -> dict[str, list[list[Any]]]:
    """Rows of a stopped role's embedded store, read in a child process: chDB opens one data
    folder per process, and this one may hold another."""
    assert role.process.poll() is not None, f"{role.name} still holds its store"
    done = subprocess.run(
        [sys.executable, "-c", STORE_READER, str(role.data_dir / "store"), json.dumps(queries)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows: dict[str, list[list[Any]]] = json.loads(done.stdout.strip().splitlines()[-1])
    return rows


def journal_files(role: Role) -> list[str]:
    """Journals left in the role's folder: rows a drain did not bring to the store."""
    return sorted(p.name for p in (role.data_dir / "journal").rglob("*.ndjson*"))


def wait_for_commit(broker: TansuBroker, group: str, *, until_end: bool = False) -> None:
    """Until `group` has committed something (work is flowing), or, `until_end`, all of it."""
    deadline = time.monotonic() + WAIT_S
    ends = {m.partition: m.offset + 1 for m in read_topic(broker)} if until_end else {}
    while True:
        committed = committed_offsets(broker, group)
        if (committed == ends) if until_end else committed:
            return
        assert time.monotonic() < deadline, f"{group} committed only {committed}"
        time.sleep(0.1)


def below(messages: Sequence[Message], committed: dict[int, int]) -> set[str]:
    """Ids of the events in messages before `committed`: what a restart does not read again."""
    return {
        event_id
        for m in messages
        if m.offset < committed.get(m.partition, 0)
        for event_id in m.event_ids
    }


def stop_logging(n: int) -> dict[str, Any]:
    """Agent n stops the audit trail: one critical alert (and an auto-quarantine) of its own."""
    return make_record(
        role=f"agent-{n}",
        eventName="StopLogging",
        eventSource="cloudtrail.amazonaws.com",
        requestParameters={"name": "management-trail"},
        readOnly=False,
    )


def destructive_ask(n: int) -> dict[str, Any]:
    """A decide request the gate of a process without a detector holds for approval."""
    return {
        "principal": f"arn:aws:sts::123456789012:assumed-role/ops-agent/run-{n}",
        "action": "DeleteDBInstance",
        "source": "rds.amazonaws.com",
        "resources": [f"prod-db-{n}"],
    }


SINK_QUERIES = {"batched": f"SELECT e FROM {schema.BATCHES} ARRAY JOIN event_ids AS e"}
DETECT_QUERIES = {
    "alerts": f"SELECT id, principal FROM {schema.ALERTS} FINAL",
    "opened": f"SELECT JSONExtractString(body, 'data', 'alert', 'id') FROM "
    f"{schema.WEBHOOK_OUTBOX} FINAL WHERE event_type = 'alert.opened'",
    "quarantines": f"SELECT count() FROM {schema.PRINCIPAL_CHANGES} WHERE to_state = 'quarantined'",
    "quarantine_hooks": f"SELECT count() FROM {schema.WEBHOOK_OUTBOX} FINAL "
    "WHERE event_type = 'principal.quarantined'",
}


@pytest.mark.parametrize("sig", SIGNALS)
def test_serve_sink_and_detect_stopped_mid_stream_keep_every_acknowledged_thing_once(
    store_url: str, tansu_broker: TansuBroker, tmp_path: Path, roles: list[Role], sig: int
) -> None:
    receiver = WebhookReceiver()
    server = receiver.serve()
    env = kafka_env(
        tansu_broker,
        LEASH_STORE_URL=store_url,
        LEASH_WEBHOOK_URLS=receiver.url,
        LEASH_SINK__MAX_ROWS="1000",  # many batches, each one poll, most ending inside a pack
        LEASH_SINK__MAX_AGE_S="0.1",
        LEASH_SINK__COMMIT_INTERVAL_S="0.1",
    )
    try:
        serve = start_serve(tmp_path, env)
        roles.append(serve)
        assert serve.api is not None

        acked: set[str] = set()
        stoppers: dict[str, str] = {}  # event id -> principal key of each StopLogging
        decisions: list[str] = []
        approvals: set[str] = set()
        with serve.api.client() as client:
            for n in range(120):  # 30,000 events, 7 busy principals: packs of ~35 per request
                records = [make_record(role=f"etl-{(n + i) % 7}") for i in range(245)]
                agents = [stop_logging(n * 5 + i) for i in range(5)]
                response = client.post("/v1/events", json={"Records": records + agents})
                assert response.status_code == 202 and response.json()["accepted"] == 250
                acked |= {r["eventID"] for r in records + agents}
                for record in agents:
                    stoppers[record["eventID"]] = record["userIdentity"]["arn"].rsplit("/", 1)[0]
        # a backlog on the bus: the workers read it in polls that end inside packs
        sink, detect = spawn_worker("sink", tmp_path, env), spawn_worker("detect", tmp_path, env)
        roles += [sink, detect]
        for worker, group in ((sink, SINK_GROUP), (detect, DETECT_GROUP)):
            worker.wait_logged("workers running")
            wait_for_commit(tansu_broker, group)  # work is flowing: stop it midway
            worker.process.send_signal(sig)
        with serve.api.client() as client:  # answers the journals hold (decisions for 5 s)
            for n in range(20):
                answer = client.post("/v1/decide", json=destructive_ask(n)).json()
                assert answer["decision"] == "require_approval", answer
                decisions.append(answer["decision_id"])
                approvals.add(answer["approval_id"])
        serve.process.send_signal(sig)
        drained(roles, sig)

        # serve: its journaled decisions, approvals and webhook rows are in its store
        kept = read_rows(
            serve,
            store_url,
            decisions=f"SELECT decision_id FROM {schema.DECISIONS}",
            approvals=f"SELECT approval_id FROM {schema.APPROVALS} FINAL",
            asked=f"SELECT count() FROM {schema.WEBHOOK_OUTBOX} FINAL "
            "WHERE event_type = 'approval.requested'",
        )
        assert sorted(r[0] for r in kept["decisions"]) == sorted(decisions)
        assert {r[0] for r in kept["approvals"]} == approvals
        assert kept["asked"] == [[len(approvals)]]
        assert journal_files(serve) == []

        # sink: what it stored is exactly what its committed offsets cover, each event once
        messages = read_topic(tansu_broker)
        stored = [r[0] for r in read_rows(sink, store_url, **SINK_QUERIES)["batched"]]
        assert stored and len(stored) == len(set(stored))
        assert set(stored) == below(messages, committed_offsets(tansu_broker, SINK_GROUP))

        # detect: an alert for every agent its committed offsets cover, each with its webhooks
        seen = below(messages, committed_offsets(tansu_broker, DETECT_GROUP))
        found = read_rows(detect, store_url, **DETECT_QUERIES)
        alerted = {principal for _, principal in found["alerts"]}
        assert alerted == {key for event_id, key in stoppers.items() if event_id in seen}
        assert sorted(r[0] for r in found["opened"]) == sorted(r[0] for r in found["alerts"])
        assert found["quarantine_hooks"] == found["quarantines"]
        assert journal_files(detect) == []

        # restarted, they go on where they stopped: nothing lost, nothing stored or paged twice
        again = [spawn_worker_again(sink, env), spawn_worker_again(detect, env)]
        roles += again
        wait_for_commit(tansu_broker, SINK_GROUP, until_end=True)
        wait_for_commit(tansu_broker, DETECT_GROUP, until_end=True)
        signal_twice(again, signal.SIGTERM)
    finally:
        server.shutdown()
        server.server_close()
    stored = [r[0] for r in read_rows(sink, store_url, **SINK_QUERIES)["batched"]]
    assert len(stored) == len(set(stored)) == len(acked) and set(stored) == acked
    found = read_rows(detect, store_url, **DETECT_QUERIES)
    assert sorted(p for _, p in found["alerts"]) == sorted(set(stoppers.values()))
    assert sorted(r[0] for r in found["opened"]) == sorted(r[0] for r in found["alerts"])
    assert found["quarantine_hooks"] == found["quarantines"] == [[len(stoppers)]]


def spawn_worker_again(role: Role, env: dict[str, str]) -> Role:
    """The same role on the same data folder, running (its log goes on in the same file)."""
    with role.log.open("ab") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "leash.cli", role.name, "--data-dir", str(role.data_dir)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
    again = Role(role.name, role.data_dir, process, role.log)
    again.wait_logged("workers running")
    return again


@dataclass
class HeldReceiver:
    """A webhook endpoint that answers only once the test lets it: meanwhile it trickles header
    lines, so the sender's read timeout never fires and the delivery stays in flight (and the
    process that sends it stays in its drain) for as long as the test holds it."""

    port: int = field(default_factory=free_port)
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    bodies: list[bytes] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def serve(self) -> http.server.ThreadingHTTPServer:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                receiver.bodies.append(self.rfile.read(int(self.headers["content-length"])))
                self.wfile.write(b"HTTP/1.1 204 No Content\r\n")
                self.wfile.flush()
                receiver.arrived.set()
                deadline = time.monotonic() + WAIT_S
                while not receiver.release.wait(0.5) and time.monotonic() < deadline:
                    self.wfile.write(b"X-Held: 1\r\n")
                    self.wfile.flush()
                self.wfile.write(b"Connection: close\r\n\r\n")
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


def ask_for_approval(role: Role, broker: TansuBroker) -> None:
    """serve: a decide the gate holds for approval, whose approval.requested webhook goes out."""
    assert role.api is not None
    with role.api.client() as client:
        answer = client.post("/v1/decide", json=destructive_ask(0)).json()
    assert answer["decision"] == "require_approval", answer


def stop_the_trail(role: Role, broker: TansuBroker) -> None:
    """detect: an agent stops the audit trail; its alert and quarantine webhooks go out."""
    event = make_event(**stop_logging(0))
    with KafkaBus(broker.url, options=fast_kafka_settings()) as bus:
        bus.publisher().publish(
            schema.EVENTS_TOPIC, [(event.principal_key.encode(), encode_event(event))]
        ).result(timeout=30)


@pytest.mark.parametrize("sig", SIGNALS)
@pytest.mark.parametrize(
    ("name", "make_work"),
    [
        pytest.param("serve", ask_for_approval, id="serve"),
        pytest.param("detect", stop_the_trail, id="detect"),
    ],
)
def test_a_second_signal_while_a_webhook_holds_the_drain_does_not_cut_it_short(
    tansu_broker: TansuBroker,
    tmp_path: Path,
    roles: list[Role],
    name: str,
    make_work: Callable[[Role, TansuBroker], None],
    sig: int,
) -> None:
    receiver = HeldReceiver()
    server = receiver.serve()
    env = kafka_env(tansu_broker, LEASH_WEBHOOK_URLS=receiver.url)
    try:
        if name == "serve":
            role = start_serve(tmp_path, env)
        else:
            role = spawn_worker(name, tmp_path, env)
            role.wait_logged("workers running")
        roles.append(role)
        make_work(role, tansu_broker)
        assert receiver.arrived.wait(WAIT_S), "no webhook was sent"

        role.process.send_signal(sig)
        role.wait_logged(DRAINING)
        role.process.send_signal(sig)
        role.process.send_signal(signal.SIGTERM if sig == signal.SIGINT else signal.SIGINT)
        time.sleep(1.0)  # the handlers run while the drain is held (and a cut one would end)
        assert role.process.poll() is None, role.log.read_text()
        receiver.release.set()
        assert role.process.wait(timeout=EXIT_TIMEOUT_S) == EXIT_CODES[sig], role.log.read_text()
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
    log = role.log.read_text()
    assert STOPPED in log and "Traceback" not in log, log
    outcomes = read_store(
        role, sent=f"SELECT event_type, status FROM {schema.WEBHOOK_OUTBOX} FINAL"
    )["sent"]
    # the held deliveries finished and were recorded; one queued meanwhile waits for the restart
    held = {json.loads(body)["type"] for body in receiver.bodies}
    assert held and all(s == ("delivered" if t in held else "pending") for t, s in outcomes)
    assert held <= {t for t, _ in outcomes}, outcomes
    assert journal_files(role) == []
