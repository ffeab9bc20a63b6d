"""Decide benchmark: POST /v1/decide at a fixed rate against a real `leash up`.

With `wrk` on the PATH (Debian: `apt-get install wrk`), the load comes from wrk and
bench/wrk/decide.lua: C, a few microseconds per request, so the numbers are the server's. Each run
also drives a bare FastAPI endpoint (bench/reference_app.py) the same way, right before Leash, so
the machine's own floor is printed beside Leash's numbers. Without wrk (or with --generator
python), Python processes send open loop and measure from each request's scheduled send time,
which also counts their own scheduling jitter.
Then: the time from an agent's first delete to the alert webhook and the quarantine webhook --
with `--ingest-rate`, also after each run under that ingest, while it goes on.

    python -m bench.decide_latency --rate 500 --duration 10 --runs 3
"""

from __future__ import annotations

import argparse
import base64
import gzip
import http.server
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.serving import free_port, gzip_json_headers, start_leash, wait_healthy

KEY = "bench-admin-key"
SECRET = "whsec_" + base64.b64encode(b"bench-webhook-secret-0123456789").decode()
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk" / "decide.lua"
THREADS_PER_PROC = 4  # senders per process: enough in flight that pacing, not sockets, limits
PRINCIPALS = [
    f"arn:aws:sts::123456789012:assumed-role/bench-agent-{i}/agent-run-{i:04d}a" for i in range(50)
]
ACTIONS = [
    ("ec2.amazonaws.com", "DescribeInstances"),
    ("s3.amazonaws.com", "PutObject"),
    ("rds.amazonaws.com", "DeleteDBInstance"),
    ("ec2.amazonaws.com", "RunInstances"),
    ("iam.amazonaws.com", "AttachRolePolicy"),
]


class Receiver:
    """Records (arrival time, event type, body) of every webhook POSTed to it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrivals: list[tuple[float, str, bytes]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.arrivals.append((time.perf_counter(), orjson.loads(body)["type"], body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def first(self, event_type: str, about: bytes) -> float | None:
        """When the first `event_type` webhook whose body mentions `about` arrived."""
        return next(
            (t for t, kind, body in list(self.arrivals) if kind == event_type and about in body),
            None,
        )


class RawHttp:
    """A minimal keep-alive HTTP/1.1 client: a few microseconds of client CPU per request, so
    the numbers measure the server rather than the load generator (httpx costs ~0.3 ms)."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""

    def post(self, path: str, body: bytes) -> int:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self._sock.sendall(head.encode() + body)
        while b"\r\n\r\n" not in self._buffer:
            self._buffer += self._sock.recv(65536)
        header, _, rest = self._buffer.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in header.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(rest) < length:
            rest += self._sock.recv(65536)
        self._buffer = rest[length:]
        return int(header.split(b" ", 2)[1])

    def close(self) -> None:
        self._sock.close()


def _sender(port: int, slots: list[float], out: list[tuple[float, float, int]]) -> None:
    client = RawHttp(port)
    for n, due in enumerate(slots):
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        source, action = ACTIONS[n % len(ACTIONS)]
        body = orjson.dumps(
            {
                "principal": PRINCIPALS[n % len(PRINCIPALS)],
                "action": action,
                "source": source,
                "resources": [f"res-{n % 20}"],
            }
        )
        sent = time.perf_counter()
        status = client.post("/v1/decide", body)
        done = time.perf_counter()
        out.append((done - due, done - sent, status))
    client.close()


def _process(
    port: int,
    start: float,
    step_s: float,
    first: int,
    total: int,
    stride: int,
    queue: mp.Queue,  # type: ignore[type-arg]
) -> None:
    slots = [start + i * step_s for i in range(first, total, stride)]
    results: list[tuple[float, float, int]] = []
    threads = [
        threading.Thread(target=_sender, args=(port, slots[t::THREADS_PER_PROC], results))
        for t in range(THREADS_PER_PROC)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put(results)


def python_drive(port: int, *, rate: float, duration_s: float, procs: int) -> dict[str, float]:
    total = int(rate * duration_s)
    start = time.perf_counter() + 1.0  # give every process time to spawn before the clock
    queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    workers = [
        mp.Process(target=_process, args=(port, start, 1 / rate, p, total, procs, queue))
        for p in range(procs)
    ]
    for worker in workers:
        worker.start()
    results = [r for _ in workers for r in queue.get()]
    for worker in workers:
        worker.join()
    elapsed = duration_s + max((lat for lat, _, _ in results), default=0.0)
    ms = sorted(r[0] * 1000 for r in results)
    q = statistics.quantiles(ms, n=1000)
    return {
        "requests": len(results),
        "errors": sum(1 for r in results if r[2] != 200),
        "rate": len(results) / elapsed,
        "p50": q[499],
        "p95": q[949],
        "p99": q[989],
        "p999": q[998],
        "max": ms[-1],
    }


def wrk_drive(port: int, *, rate: float, duration_s: float, connections: int) -> dict[str, float]:
    """One wrk run; connections x (1 request per period) = rate."""
    period_ms = connections * 1000 / rate
    env = {**os.environ, "PERIOD_MS": f"{period_ms:.0f}", "LEASH_KEY": KEY}
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration_s:.0f}s",
        "--timeout",
        "5s",
        "-s",
        str(WRK_SCRIPT),
        f"http://127.0.0.1:{port}",
    ]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    values = {k: float(v) for k, v in (item.split("=") for item in line.split()[1:])}
    values["rate"] = values["requests"] / values["seconds"]
    return values


def burst_to_webhook(
    url: str, receiver: Receiver, *, deletes: int = 12, role: str = "deploy-agent", label: str = ""
) -> None:
    """An AI agent's burst of production deletes (its role `role`: a new one for each burst,
    none containing another, since the receiver tells webhooks apart by it); prints the time
    from its first delete to the `alert.opened` and `principal.quarantined` webhooks."""
    now = datetime.now(UTC)
    arn = f"arn:aws:sts::123456789012:assumed-role/{role}/agent-run-b3nch1"
    records = [
        {
            "eventVersion": "1.08",
            "eventID": str(uuid.uuid4()),
            "eventSource": "rds.amazonaws.com",
            "eventName": "DeleteDBInstance",
            "awsRegion": "us-east-1",
            "eventTime": (now + timedelta(milliseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "userIdentity": {"type": "AssumedRole", "arn": arn, "accountId": "123456789012"},
            "requestParameters": {"dBInstanceIdentifier": f"prod-db-{i}"},
            "readOnly": False,
        }
        for i in range(deletes)
    ]
    headers = {"Authorization": f"Bearer {KEY}"}
    first_delete = time.perf_counter()
    httpx.post(f"{url}/v1/events", json={"Records": records[:1]}, headers=headers, timeout=10)
    httpx.post(f"{url}/v1/events", json={"Records": records[1:]}, headers=headers, timeout=10)
    deadline = time.perf_counter() + 60
    about = arn.split("/")[1].encode()
    while time.perf_counter() < deadline and receiver.first("principal.quarantined", about) is None:
        time.sleep(0.01)
    for kind in ("alert.opened", "principal.quarantined"):
        at = receiver.first(kind, about)
        shown = f"{(at - first_delete) * 1000:.0f} ms" if at else "not received within 60 s"
        print(f"first delete -> {kind} webhook{label}: {shown}")


def _ingest_load(
    port: int, rate: float, batch: int, seconds: float, ready: Any, stop: Any, out: Any
) -> None:
    """Post gzip'd batches of real CloudTrail records at `rate` events/s until `stop` is set or
    `seconds` of load are sent. The bodies are built first, then `ready` is set: building them
    takes a core, and measuring while it runs measured the builder, not the ingest (a profile:
    the first of ten minutes of bodies went out 44 s after the process started)."""
    from bench.ingest_throughput import load_templates, make_bodies

    per_s = max(rate / batch, 0.1)
    bodies, _ = make_bodies(load_templates(), int(rate * seconds) or batch, batch)
    ready.set()
    headers = gzip_json_headers(KEY)
    sent, started = 0, time.perf_counter()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as client:
        for n, body in enumerate(bodies):
            if stop.is_set():
                break
            wait = started + n / per_s - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            response = client.post("/v1/events", content=body)
            sent += response.json().get("accepted", 0) if response.status_code == 202 else 0
    out.put((sent / (time.perf_counter() - started), not stop.is_set()))


class IngestLoad:
    """A process posting events to Leash at a steady rate while decide is measured."""

    def __init__(self, port: int, rate: float, seconds: float, batch: int = 100) -> None:
        self._stop, self._ready = mp.Event(), mp.Event()
        self._out: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        self._proc = mp.Process(
            target=_ingest_load,
            args=(port, rate, batch, seconds, self._ready, self._stop, self._out),
        )

    def __enter__(self) -> IngestLoad:
        self._proc.start()
        deadline = time.monotonic() + 600
        while not self._ready.wait(1.0):
            if not self._proc.is_alive():
                raise RuntimeError("the ingest load's process died building its bodies")
            if time.monotonic() > deadline:
                raise RuntimeError("the ingest load's bodies were not built within 10 minutes")
        time.sleep(3.0)  # the first bodies stored, the detector busy: measure in steady state
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        achieved, ran_out = self._out.get(timeout=60)
        self.achieved = float(achieved)
        self._proc.join(60)
        if ran_out:  # its bodies ended before the last run did: that run had less ingest
            print("WARNING: the ingest load ran out of records before the last run ended")


def _lag(url: str) -> str:
    """How far the detector is behind the stored events (GET /v1/detector)."""
    status = httpx.get(
        f"{url}/v1/detector", headers={"Authorization": f"Bearer {KEY}"}, timeout=10
    ).json()
    return f"detector lag {int(status.get('lag') or 0):,} events"


HISTORY_SEED = 7  # the generated organisation whose days give the detector a history to train on
HISTORY_BATCH = 1000  # records per POST of that history


def seed_history(url: str) -> int:
    """POST three generated days of an organisation's CloudTrail (~130k records), wait until
    the detector has read them, and train once: the replayed templates of the ingest load span
    minutes, too little history for a training to succeed (a retrain then fails before its
    fit), and every run then has a model to score with."""
    from detect.eval.world import generate_world

    records = generate_world(HISTORY_SEED, baseline_days=2, test_days=1).records
    headers = gzip_json_headers(KEY)
    with httpx.Client(base_url=url, headers=headers, timeout=600) as client:
        for start in range(0, len(records), HISTORY_BATCH):
            body = orjson.dumps({"Records": records[start : start + HISTORY_BATCH]})
            for _ in range(10):  # a busy bus answers 503/429 with Retry-After: wait, send again
                response = client.post("/v1/events", content=gzip.compress(body, compresslevel=1))
                if response.status_code not in (429, 503):
                    break
                time.sleep(float(response.headers.get("retry-after", 1)))
            if response.status_code != 202:
                sys.exit(f"storing the history failed: {response.status_code} {response.text}")
        deadline = time.monotonic() + 600
        while True:
            status = client.get("/v1/detector").json()
            if status.get("events_processed", 0) >= len(records) and not status.get("lag"):
                break
            if time.monotonic() > deadline:
                sys.exit("the detector did not read the history within 10 minutes")
            time.sleep(1.0)
        trained = client.post("/v1/detector/train")
        if trained.status_code != 200:
            sys.exit(f"training on the history failed: {trained.status_code} {trained.text}")
    return len(records)


class Retraining:
    """POST /v1/detector/train again and again while decide is measured: the runs that show
    whether a retrain reaches the serving path (the fit runs in its own process)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.seconds: list[float] = []
        self.failures: list[str] = []

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {KEY}"}
        with httpx.Client(base_url=self._url, headers=headers, timeout=600) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                response = client.post("/v1/detector/train")
                if response.status_code == 200:
                    self.seconds.append(time.perf_counter() - started)
                else:
                    self.failures.append(f"{response.status_code} {response.text[:200]}")
                    self._stop.wait(1.0)

    def __enter__(self) -> Retraining:
        self._thread.start()
        time.sleep(0.5)  # the history read has begun
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(600)

    def describe(self) -> str:
        if not self.seconds:
            return f"no training finished ({'; '.join(self.failures[:1]) or 'still running'})"
        mean = statistics.mean(self.seconds)
        return f"{len(self.seconds)} trainings of {mean:.1f} s"


def start_reference(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.reference_app", "--port", str(port), "--key", KEY]
    )
    return wait_healthy(proc, port, "the reference app")


def _row(label: str, r: dict[str, float]) -> str:
    return (
        f"{label:<22} {r['rate']:>5.0f}/s  p50 {r['p50']:5.2f}  p95 {r['p95']:5.2f}  "
        f"p99 {r['p99']:5.2f}  p99.9 {r['p999']:6.2f}  max {r['max']:6.2f} ms  "
        f"errors {r['errors']:.0f}"
    )


def _summary(label: str, p99s: list[float]) -> None:
    print(
        f"{label}: median {statistics.median(p99s):.2f} ms, range {min(p99s):.2f}-"
        f"{max(p99s):.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per run")
    parser.add_argument("--runs", type=int, default=3, help="runs (reference, then Leash, each)")
    parser.add_argument(
        "--generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator (auto: wrk when it is on the PATH)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=5.0,
        help="seconds of unreported load on each server first (first approvals, "
        "their webhooks, cold caches)",
    )
    parser.add_argument("--connections", type=int, default=50, help="wrk connections")
    parser.add_argument(
        "--ingest-rate",
        type=float,
        default=0.0,
        help="also measure decide while this many events/s of real CloudTrail "
        "records are ingested (and detected) by the same leash up",
    )
    parser.add_argument("--procs", type=int, default=2, help="python generator processes")
    parser.add_argument(
        "--retrain",
        action="store_true",
        help="with --ingest-rate: one more run each time while POST /v1/detector/train "
        "retrains the detector back to back",
    )
    args = parser.parse_args()
    if args.retrain and args.ingest_rate <= 0:
        parser.error("--retrain measures decide under ingest: give --ingest-rate too")
    use_wrk = args.generator == "wrk" or (args.generator == "auto" and shutil.which("wrk"))
    if args.generator == "wrk" and not shutil.which("wrk"):
        sys.exit("wrk is not on the PATH: apt-get install wrk (or --generator python)")

    def drive(port: int, duration_s: float | None = None) -> dict[str, float]:
        seconds = args.duration if duration_s is None else duration_s
        if use_wrk:
            return wrk_drive(port, rate=args.rate, duration_s=seconds, connections=args.connections)
        return python_drive(port, rate=args.rate, duration_s=seconds, procs=args.procs)

    print(
        f"generator: {'wrk ' + str(args.connections) + ' connections' if use_wrk else 'python'}"
        f", {args.rate:.0f} req/s, {args.duration:.0f} s per run after {args.warmup:.0f} s of "
        "warm-up; latencies in ms"
    )
    receiver = Receiver()
    leash_p99: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        port, ref_port = free_port(), free_port()
        proc = start_leash(
            Path(tmp) / "data",
            port,
            {
                "LEASH_API_KEYS": f"{KEY}:admin",
                "LEASH_SINK__MAX_AGE_S": "0.2",
                "LEASH_WEBHOOK_URLS": f"http://127.0.0.1:{receiver.port}/hook",
                "LEASH_WEBHOOK_SECRET": SECRET,
                # with --retrain only the measured runs train: no scheduled retrain in the others
                **({"LEASH_DETECT__AUTO_RETRAIN": "false"} if args.retrain else {}),
            },
        )
        ref = start_reference(ref_port)
        url = f"http://127.0.0.1:{port}"
        try:
            if args.retrain:
                took = time.perf_counter()
                count = seed_history(url)
                print(
                    f"history: {count:,} records of generated traffic stored, read by the "
                    f"detector and trained on in {time.perf_counter() - took:.0f} s"
                )
            if args.warmup > 0:
                for warm in (ref_port, port):
                    drive(warm, args.warmup)
            for run in range(1, args.runs + 1):
                print(_row(f"run {run} bare FastAPI", drive(ref_port)))
                result = drive(port)
                leash_p99.append(result["p99"])
                print(_row(f"run {run} leash decide", result))
            _summary(f"leash decide p99 over {args.runs} runs", leash_p99)
            if args.ingest_rate > 0:
                loaded: list[float] = []
                floor: list[float] = []
                training: list[float] = []
                # a run is the bare endpoint's and Leash's (and the retraining one), each with
                # ~1 s of spawning, plus the wait for the last training of a retraining run
                per_run = (3 if args.retrain else 2) * (args.duration + 1) + 5
                per_run += 20 if args.retrain else 0
                seconds = args.runs * per_run + 30  # with room for set-up
                with IngestLoad(port, args.ingest_rate, seconds) as load:
                    for run in range(1, args.runs + 1):
                        # the bare endpoint beside the same ingest: the machine's own floor
                        bare = drive(ref_port)
                        floor.append(bare["p99"])
                        print(_row(f"run {run} bare, ingest on", bare))
                        result = drive(port)
                        loaded.append(result["p99"])
                        print(f"{_row(f'run {run} under ingest', result)}  {_lag(url)}")
                        # the alert path under the same background: the detector works
                        # through the ingest's backlog before it reaches the burst
                        burst_to_webhook(
                            url, receiver, role=f"burst{run}-agent", label=" under ingest"
                        )
                        if args.retrain:
                            with Retraining(url) as retraining:
                                result = drive(port)
                            training.append(result["p99"])
                            row = _row(f"run {run} and retraining", result)
                            print(f"{row}  {retraining.describe()}  {_lag(url)}")
                _summary(
                    f"bare FastAPI p99 while Leash ingests {load.achieved:,.0f} events/s", floor
                )
                _summary(f"leash decide p99 while ingesting {load.achieved:,.0f} events/s", loaded)
                if training:
                    _summary("leash decide p99 while ingesting and retraining", training)
            burst_to_webhook(url, receiver)
        finally:
            ref.terminate()
            proc.terminate()
            proc.wait(timeout=60)
            ref.wait(timeout=30)
            receiver.server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
