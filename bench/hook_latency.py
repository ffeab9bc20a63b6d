"""Hook benchmark: what `leash hook claude-code` adds to each of an agent's tool calls.

Claude Code starts the hook command before every tool call and waits for it, so its cost is a
process start, imports and one decide. Against a real `leash up`, in one run, sequentially:
- a bare `python -c pass` (the interpreter's own start on this machine: the floor);
- the hook for a read (`ls`: allow, no opinion) and a destructive command (`terraform destroy`:
  require_approval -> ask), each asked of Leash over HTTP;
- the same decide through an already-open httpx client (what an in-process adapter pays).

    python -m bench.hook_latency --calls 30
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

from bench.serving import free_port, start_leash

KEY = "bench-hook-key"
PRINCIPAL = "arn:aws:sts::123456789012:assumed-role/coding-agent/bench-hook"
CALLS = {
    "read (ls)": {"command": "ls -la && git status"},
    "destructive (terraform destroy)": {"command": "terraform destroy -auto-approve"},
}


def timed(run: Callable[[], object], n: int) -> list[float]:
    """Milliseconds of each of n runs (after one warm-up run)."""
    run()
    out = []
    for _ in range(n):
        started = time.perf_counter()
        run()
        out.append((time.perf_counter() - started) * 1000)
    return out


def row(label: str, ms: list[float]) -> str:
    ordered = sorted(ms)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return (
        f"{label:<44} p50 {statistics.median(ms):7.1f} ms  p90 {p90:7.1f} ms  max {max(ms):7.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30, help="hook runs per kind of call")
    args = parser.parse_args()
    leash = shutil.which("leash", path=str(Path(sys.executable).parent)) or "leash"
    data_dir = Path(tempfile.mkdtemp(prefix="leash-bench-hook-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_leash(data_dir, port, {"LEASH_API_KEYS": f"{KEY}:ingest"})
    try:
        env = {**os.environ, "LEASH_API_URL": url, "LEASH_API_KEY": KEY}
        env["LEASH_PRINCIPAL"] = PRINCIPAL
        print(f"{time.strftime('%Y-%m-%d')} hook latency, {args.calls} runs each, one run")
        floor = timed(
            lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), args.calls
        )
        print(row("python -c pass (interpreter start)", floor))
        for label, tool_input in CALLS.items():
            stdin = orjson.dumps(
                {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": tool_input}
            )

            def hook(stdin: bytes = stdin) -> object:
                done = subprocess.run(
                    [leash, "hook", "claude-code"], input=stdin, env=env, capture_output=True
                )
                if done.returncode != 0:
                    raise SystemExit(f"the hook failed: {done.stderr.decode()}")
                return done.stdout

            print(row(f"leash hook claude-code: {label}", timed(hook, args.calls)))
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}) as client:
            body = {
                "principal": PRINCIPAL,
                "action": "Bash",
                "source": "tool:claude-code",
                "arguments": CALLS["destructive (terraform destroy)"],
            }
            direct = timed(lambda: client.post("/v1/decide", json=body).raise_for_status(), 200)
            print(row("decide over an open httpx client (destructive)", direct))
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
