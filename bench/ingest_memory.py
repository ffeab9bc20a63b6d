"""Memory soak: RSS of each `leash up` process while 2M CloudTrail events are ingested, then idle.

Starts `leash up` on its embedded defaults (LEASH_PROCESSES as in the environment, default 2: the
API process and a detector child) in a temporary data dir and posts gzip'd bodies of real
CloudTrail records (the invictus templates of `bench.ingest_throughput`, fresh eventIDs) from
several connections. Unlike the throughput bench the records are spread over `--principals`
principals (a skewed draw: a few busy, a long tail) and their eventTimes advance over the last
`--span-h` hours, so per-principal state, incidents and time windows grow and age as they would
in an organisation. Bodies are built by the client threads as they go (2M records held at once
would take GBs in this process).

RSS (and anonymous RSS, `RssAnon`) of every process of the tree is sampled at the start, every
`--every` acknowledged events, once the sink has stored everything and the detector has caught
up ("after"), and after `--idle-s` seconds of idle; one table at the end, peak RSS (`VmHWM`)
beside it.

    python -m bench.ingest_memory --events 2000000 --batch 1000 --clients 4

With `--tracemalloc DIR` every Leash process runs under tracemalloc (a `sitecustomize` put on
its PYTHONPATH) and dumps a snapshot into DIR at each sample; `python -m bench.ingest_memory
--top DIR` prints the top allocation sites of each process's last snapshot and the growth since
its first. Tracemalloc slows Leash down severalfold: profile with fewer events.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

from bench.ingest_throughput import as_iam_user, load_templates, stored_from_metrics
from bench.serving import free_port, gzip_json_headers, start_leash

MIB = 2**20
POLL_S = 0.5  # seconds between reads of /metrics and /v1/detector while waiting to catch up
CATCH_UP_S = 1800.0  # seconds the sink and detector get to finish after the last 202
STOP_S = 120.0  # seconds `leash up` gets to drain after SIGTERM
START_S = 600.0  # seconds `leash up` may take to start (imports under tracemalloc are slow)
SKEW = 3.0  # principal index = N * u**SKEW: low indices busy, a long tail seen rarely

SITECUSTOMIZE = """\
import os, signal, tracemalloc
tracemalloc.start(int(os.environ.get("LEASH_BENCH_TRACEMALLOC_FRAMES", "1")))
_DIR = os.environ["LEASH_BENCH_TRACEMALLOC"]
_N = [0]
def _dump(signum, frame):
    _N[0] += 1
    path = os.path.join(_DIR, "snap-%d-%03d.pickle" % (os.getpid(), _N[0]))
    tracemalloc.take_snapshot().dump(path)
signal.signal(signal.SIGUSR2, _dump)
"""


@dataclass
class Feed:
    """Builds the bodies: template records with fresh ids, spread principals and moving times."""

    templates: list[dict[str, Any]]
    total: int
    batch: int
    principals: int
    span: timedelta
    start: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        self.start = self.start - self.span

    def body(self, index: int) -> bytes:
        rng = random.Random(index)
        first = index * self.batch
        records = [self._record(i, rng) for i in range(first, min(first + self.batch, self.total))]
        return gzip.compress(orjson.dumps({"Records": records}), compresslevel=1)

    def _record(self, i: int, rng: random.Random) -> dict[str, Any]:
        record = dict(self.templates[i % len(self.templates)])
        record["eventID"] = str(uuid.uuid4())
        when = self.start + self.span * (i / self.total)
        record["eventTime"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.principals:
            as_iam_user(record, lambda: f"user-{int(self.principals * rng.random() ** SKEW):06d}")
        return record


@dataclass
class Sample:
    label: str
    acked: int
    stored: int
    rss: dict[str, float]  # role -> MiB
    anon: dict[str, float]


def roles(root: psutil.Process) -> dict[str, psutil.Process]:
    """The tree's processes by role: api (leash up), detector (its oldest spawned child: a
    training fit is spawned too, later), and any other child (a fit: "train:PID", the resource
    tracker) by its pid."""
    found = {"api": root}
    spawned: list[psutil.Process] = []
    for child in root.children(recursive=True):
        try:
            cmdline = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "resource_tracker" in cmdline:
            found[f"tracker:{child.pid}"] = child
        elif "spawn_main" in cmdline:
            spawned.append(child)
        else:
            found[f"other:{child.pid}"] = child
    spawned.sort(key=lambda p: p.create_time())
    for index, child in enumerate(spawned):
        found["detector" if index == 0 else f"train:{child.pid}"] = child
    return found


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as an operator would; SIGKILL to the tree if it has not drained in STOP_S (a
    training fit in progress is waited for)."""
    tree = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_S)
    except subprocess.TimeoutExpired:
        print(f"leash up did not stop within {STOP_S:.0f} s of SIGTERM: killed", flush=True)
        for child in [psutil.Process(proc.pid), *tree]:
            with contextlib.suppress(psutil.Error):
                child.kill()
        proc.wait(STOP_S)


def rss_of(procs: dict[str, psutil.Process]) -> tuple[dict[str, float], dict[str, float]]:
    rss, anon = {}, {}
    for role, proc in procs.items():
        try:
            rss[role] = proc.memory_info().rss / MIB
            anon[role] = status_kib(proc.pid, "RssAnon") / 1024
        except (psutil.Error, OSError):
            continue
    return rss, anon


def status_kib(pid: int, key: str) -> int:
    """A `kB` line of /proc/PID/status (RssAnon, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


class Soak:
    """One run: posts the feed, takes samples, waits for the catch-up and the idle minute."""

    def __init__(self, proc: subprocess.Popen[bytes], client: httpx.Client, dump: bool) -> None:
        self.proc = proc
        self.client = client
        self.dump = dump
        self.root = psutil.Process(proc.pid)
        self.samples: list[Sample] = []
        self.acked = 0
        self._lock = threading.Lock()

    def sample(self, label: str) -> None:
        procs = roles(self.root)
        if self.dump:
            for role, p in procs.items():
                if role in ("api", "detector"):
                    p.send_signal(signal.SIGUSR2)
        rss, anon = rss_of(procs)
        stored = stored_from_metrics(self.client.get("/metrics").text)
        self.samples.append(Sample(label, self.acked, stored, rss, anon))
        cells = "  ".join(f"{role} {mib:,.0f}" for role, mib in rss.items())
        print(
            f"[{time.strftime('%H:%M:%S')}] {label:>6}: acked {self.acked:,} stored {stored:,}"
            f"  RSS MiB {cells}",
            flush=True,
        )

    def post(self, feed: Feed, clients: int, every: int) -> None:
        next_mark = [every]

        def send(index: int) -> None:
            body = feed.body(index)
            for attempt in range(20):
                response = self.client.post("/v1/events", content=body)
                if response.status_code != 503:
                    break
                time.sleep(min(2.0, 0.1 * 2**attempt))
            response.raise_for_status()
            with self._lock:
                self.acked += response.json()["accepted"]
                due = self.acked >= next_mark[0]
                if due:
                    next_mark[0] += every
                    self.sample(f"{self.acked // 1000}k")

        bodies = -(-feed.total // feed.batch)
        with ThreadPoolExecutor(clients) as pool:
            for _ in pool.map(send, range(bodies)):
                pass

    def wait_caught_up(self, total: int) -> float:
        """Seconds until the sink has stored `total` and the detector has no lag."""
        started = time.monotonic()
        while time.monotonic() - started < CATCH_UP_S:
            stored = stored_from_metrics(self.client.get("/metrics").text)
            lag = self.client.get("/v1/detector").json().get("lag", 0)
            if stored >= total and not lag:
                break
            time.sleep(POLL_S)
        return time.monotonic() - started


def run(args: argparse.Namespace) -> list[Sample]:
    key = "bench-key"
    feed = Feed(
        load_templates(),
        args.events,
        args.batch,
        args.principals,
        timedelta(hours=args.span_h),
    )
    env = {"LEASH_API_KEYS": f"{key}:admin"}
    with tempfile.TemporaryDirectory() as tmp:
        if args.tracemalloc:
            Path(args.tracemalloc).mkdir(parents=True, exist_ok=True)
            hook = Path(tmp) / "hook"
            hook.mkdir()
            (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
            path = os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")])
            env |= {"PYTHONPATH": path, "LEASH_BENCH_TRACEMALLOC": str(args.tracemalloc)}
        port = args.port or free_port()
        proc = start_leash(Path(tmp) / "data", port, env, timeout_s=START_S)
        headers = gzip_json_headers(key)
        try:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                headers=headers,
                timeout=300,
                limits=httpx.Limits(max_connections=args.clients + 1),
            ) as client:
                soak = Soak(proc, client, dump=bool(args.tracemalloc))
                time.sleep(2.0)  # the detector child finishes its imports
                soak.sample("start")
                started = time.monotonic()
                soak.post(feed, args.clients, args.every)
                posted_s = time.monotonic() - started
                caught_s = soak.wait_caught_up(soak.acked)
                soak.sample("after")
                print(f"posted in {posted_s:.0f} s, caught up {caught_s:.0f} s later", flush=True)
                time.sleep(args.idle_s)
                soak.sample("idle")
                peaks = {
                    role: status_kib(p.pid, "VmHWM") / 1024 for role, p in roles(soak.root).items()
                }
        finally:
            stop(proc)
            if args.log:
                shutil.copy(Path(tmp) / "leash.log", args.log)
    print_table(soak.samples, peaks)
    return soak.samples


def print_table(samples: list[Sample], peaks: dict[str, float]) -> None:
    columns = ["api", "detector"]
    print()
    print(
        f"{'sample':>7} {'acked':>10} {'stored':>10} "
        + " ".join(f"{c + ' RSS':>13} {c + ' anon':>14}" for c in columns)
        + f" {'train RSS':>9} {'others':>8} {'total':>8}"
    )
    for s in samples:
        training = sum(v for k, v in s.rss.items() if k.startswith("train:"))
        others = sum(v for k, v in s.rss.items() if k not in columns) - training
        cells = " ".join(f"{s.rss.get(c, 0):>13,.0f} {s.anon.get(c, 0):>14,.0f}" for c in columns)
        print(
            f"{s.label:>7} {s.acked:>10,} {s.stored:>10,} {cells} {training:>9,.0f}"
            f" {others:>8,.0f} {sum(s.rss.values()):>8,.0f}"
        )
    print(
        "MiB (train: a retraining fit's child, while one runs); peak RSS (VmHWM) of the "
        "processes alive at the end: " + ", ".join(f"{k} {v:,.0f}" for k, v in peaks.items())
    )


def snapshots(directory: Path) -> Iterator[tuple[int, list[Path]]]:
    by_pid: dict[int, list[Path]] = {}
    for path in sorted(directory.glob("snap-*.pickle")):
        by_pid.setdefault(int(path.stem.split("-")[1]), []).append(path)
    yield from by_pid.items()


def print_top(directory: Path, limit: int = 25) -> None:
    import tracemalloc

    for pid, paths in snapshots(directory):
        first = tracemalloc.Snapshot.load(str(paths[0]))
        last = tracemalloc.Snapshot.load(str(paths[-1]))
        traced = sum(s.size for s in last.statistics("filename"))
        print(f"\n== pid {pid}: {len(paths)} snapshots, traced {traced / MIB:,.1f} MiB at the last")
        for stat in last.compare_to(first, "lineno")[:limit]:
            frame = stat.traceback[0]
            print(
                f"{stat.size / MIB:>9.1f} MiB  {stat.size_diff / MIB:>+9.1f}  {stat.count:>9,}"
                f"  {frame.filename}:{frame.lineno}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--batch", type=int, default=1000, help="records per POST")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP connections")
    parser.add_argument("--every", type=int, default=250_000, help="events between samples")
    parser.add_argument("--principals", type=int, default=20_000, help="0: the templates' own")
    parser.add_argument("--span-h", type=float, default=48.0, help="hours of event time")
    parser.add_argument("--idle-s", type=float, default=60.0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tracemalloc", type=Path, help="dump tracemalloc snapshots here")
    parser.add_argument("--top", type=Path, help="print the snapshots in this dir and exit")
    parser.add_argument("--log", type=Path, help="keep leash up's log here")
    args = parser.parse_args()
    if args.top:
        print_top(args.top)
        return
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
    print(
        f"events {args.events:,}, batch {args.batch}, clients {args.clients}, principals "
        f"{args.principals:,}, LEASH_PROCESSES={os.environ.get('LEASH_PROCESSES', '2')}"
    )
    run(args)
    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
