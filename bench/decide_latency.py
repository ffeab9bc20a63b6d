"""Decide benchmark: POST /v1/decide at a fixed open-loop rate against a real `leash up`.

Prints p50/p95/p99/max latency (from each request's *scheduled* send time, so a stalled server
cannot hide queueing) and the achieved rate; then the time from an agent's first delete to the
alert webhook (and the quarantine webhook) arriving at a local receiver.

    python -m bench.decide_latency --rate 500 --duration 10 --procs 2
"""

from __future__ import annotations

import argparse
import base64
import http.server
import multiprocessing as mp
import os
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

import httpx
import orjson

KEY = "bench-admin-key"
SECRET = "whsec_" + base64.b64encode(b"bench-webhook-secret-0123456789").decode()
THREADS_PER_PROC = 4  # senders per process: enough in flight that pacing, not sockets, limits
PRINCIPALS = [f"arn:aws:sts::123456789012:assumed-role/bench-agent-{i}/agent-run-{i:04d}a"
              for i in range(50)]
ACTIONS = [("ec2.amazonaws.com", "DescribeInstances"), ("s3.amazonaws.com", "PutObject"),
           ("rds.amazonaws.com", "DeleteDBInstance"), ("ec2.amazonaws.com", "RunInstances"),
           ("iam.amazonaws.com", "AttachRolePolicy")]
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Receiver:
    """Records (arrival time, event type) of every webhook POSTed to it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrivals: list[tuple[float, str]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.arrivals.append((time.perf_counter(), orjson.loads(body)["type"]))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def first(self, event_type: str) -> float | None:
        return next((t for t, kind in list(self.arrivals) if kind == event_type), None)


def start_leash(data_dir: Path, port: int, hook_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LEASH_API_KEYS": f"{KEY}:admin", "LEASH_WEBHOOK_URLS": hook_url,
           "LEASH_WEBHOOK_SECRET": SECRET, "LEASH_SINK__MAX_AGE_S": "0.2"}
    args = ["up", "--no-dashboard", "--port", str(port), "--data-dir", str(data_dir)]
    command = [sys.executable, "-m", "leash.cli", *args]
    log = (data_dir.parent / "leash.log").open("wb")
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"leash up did not start; see {data_dir.parent / 'leash.log'}")


class RawHttp:
    """A minimal keep-alive HTTP/1.1 client: a few microseconds of client CPU per request, so
    the numbers measure the server rather than the load generator (httpx costs ~0.3 ms)."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""

    def post(self, path: str, body: bytes) -> int:
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        self._sock.sendall(head.encode() + body)
        while b"\r\n\r\n" not in self._buffer:
            self._buffer += self._sock.recv(65536)
        header, _, rest = self._buffer.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in header.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
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
        body = orjson.dumps({"principal": PRINCIPALS[n % len(PRINCIPALS)], "action": action,
                             "source": source, "resources": [f"res-{n % 20}"]})
        sent = time.perf_counter()
        status = client.post("/v1/decide", body)
        done = time.perf_counter()
        out.append((done - due, done - sent, status))
    client.close()


def _process(port: int, start: float, step_s: float, first: int, total: int, stride: int,
             queue: mp.Queue) -> None:  # type: ignore[type-arg]
    slots = [start + i * step_s for i in range(first, total, stride)]
    results: list[tuple[float, float, int]] = []
    threads = [threading.Thread(target=_sender, args=(port, slots[t::THREADS_PER_PROC], results))
               for t in range(THREADS_PER_PROC)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put(results)


def drive(port: int, *, rate: float, duration_s: float, procs: int) -> None:
    total = int(rate * duration_s)
    start = time.perf_counter() + 1.0  # give every process time to spawn before the clock
    queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    workers = [mp.Process(target=_process, args=(port, start, 1 / rate, p, total, procs, queue))
               for p in range(procs)]
    for worker in workers:
        worker.start()
    results = [r for _ in workers for r in queue.get()]
    for worker in workers:
        worker.join()
    elapsed = duration_s + max((lat for lat, _, _ in results), default=0.0)
    _report("scheduled->done", [r[0] for r in results])
    _report("send->done     ", [r[1] for r in results])
    errors = sum(1 for r in results if r[2] != 200)
    print(f"requests {len(results)}  errors {errors}  achieved {len(results) / elapsed:.0f} req/s "
          f"(target {rate:.0f} for {duration_s:.0f}s, {procs} procs x {THREADS_PER_PROC} threads)")


def _report(label: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    q = statistics.quantiles(ms, n=100)
    print(f"{label} p50 {q[49]:.2f} ms  p95 {q[94]:.2f} ms  p99 {q[98]:.2f} ms  "
          f"max {ms[-1]:.2f} ms")


def burst_to_webhook(url: str, receiver: Receiver, *, deletes: int = 12) -> None:
    now = datetime.now(UTC)
    arn = "arn:aws:sts::123456789012:assumed-role/deploy-agent/agent-run-b3nch1"
    records = [{
        "eventVersion": "1.08", "eventID": str(uuid.uuid4()), "eventSource": "rds.amazonaws.com",
        "eventName": "DeleteDBInstance", "awsRegion": "us-east-1",
        "eventTime": (now + timedelta(milliseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "userIdentity": {"type": "AssumedRole", "arn": arn, "accountId": "123456789012"},
        "requestParameters": {"dBInstanceIdentifier": f"prod-db-{i}"}, "readOnly": False,
    } for i in range(deletes)]
    headers = {"Authorization": f"Bearer {KEY}"}
    first_delete = time.perf_counter()
    httpx.post(f"{url}/v1/events", json={"Records": records[:1]}, headers=headers, timeout=10)
    httpx.post(f"{url}/v1/events", json={"Records": records[1:]}, headers=headers, timeout=10)
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline and receiver.first("principal.quarantined") is None:
        time.sleep(0.01)
    for kind in ("alert.opened", "principal.quarantined"):
        at = receiver.first(kind)
        shown = f"{(at - first_delete) * 1000:.0f} ms" if at else "not received within 60 s"
        print(f"first delete -> {kind} webhook: {shown}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load")
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    args = parser.parse_args()
    receiver = Receiver()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = start_leash(Path(tmp) / "data", port, f"http://127.0.0.1:{receiver.port}/hook")
        url = f"http://127.0.0.1:{port}"
        try:
            drive(port, rate=args.rate, duration_s=args.duration, procs=args.procs)
            burst_to_webhook(url, receiver)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
            receiver.server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
