"""`leash pull sqs` arguments and terminal output; the work is ingest.aws.pull."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console

from leash.cliargs import add_api_arguments

if TYPE_CHECKING:
    from ingest.settings import Settings


def add_pull_arguments(sources: Any) -> None:
    sqs = sources.add_parser(
        "sqs",
        help="long-poll an SQS queue fed by a trail's bucket",
        description="Long-poll an SQS queue that announces CloudTrail log files, read each file "
        "from S3 and POST its records to Leash; delete the message once they are durable. AWS "
        "credentials, region and endpoint come from the standard chain (AWS_PROFILE, "
        "AWS_DEFAULT_REGION, AWS_ENDPOINT_URL). Messages that keep failing stay for the queue's "
        "redrive policy (dead-letter queue).",
    )
    sqs.add_argument(
        "--queue-url",
        default=os.environ.get("LEASH_SQS__QUEUE_URL", ""),
        help="the queue (LEASH_SQS__QUEUE_URL)",
    )
    add_api_arguments(sqs)
    sqs.add_argument("--concurrency", type=int, help="messages handled at once (4)")
    sqs.add_argument("--visibility", type=int, help="visibility timeout in seconds (300)")
    sqs.add_argument("--wait", type=int, help="long-poll seconds per receive, 0-20 (20)")
    sqs.add_argument(
        "--until-empty",
        action="store_true",
        help="exit once the queue has no visible message (a backfill, a cron job)",
    )
    sqs.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus leash_pull_* metrics on 127.0.0.1:PORT (no key: loopback only)",
    )


def run_pull(args: argparse.Namespace, settings: Settings) -> int:
    from prometheus_client import start_http_server

    from ingest.aws.deliver import HttpDelivery
    from ingest.aws.pull import PullerFatal
    from ingest.aws.worker import build_puller
    from ingest.metrics import IngestMetrics
    from ingest.ship import Shipper

    console = Console(stderr=True)
    if not args.queue_url:
        console.print("[red]no queue[/]: pass --queue-url or set LEASH_SQS__QUEUE_URL")
        return 2
    if not args.api_key:
        console.print(
            "[red]no API key[/]: pass --api-key or set LEASH_API_KEY "
            "(after `leash up`: export LEASH_API_KEY=$(cat leash-data/admin.key))"
        )
        return 2
    overrides = {
        name: value
        for name, value in (
            ("queue_url", args.queue_url),
            ("concurrency", args.concurrency),
            ("visibility_s", args.visibility),
            ("wait_s", args.wait),
        )
        if value is not None
    }
    sqs_settings = settings.sqs.model_copy(update=overrides)
    settings = settings.model_copy(update={"sqs": sqs_settings})
    metrics = IngestMetrics()
    if args.metrics_port:
        # loopback only: unlike the API's /metrics this endpoint has no key check
        start_http_server(args.metrics_port, addr="127.0.0.1", registry=metrics.registry)
    shipper = Shipper(args.url, args.api_key, concurrency=sqs_settings.concurrency)
    puller = build_puller(settings, HttpDelivery(shipper), metrics)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    started = time.monotonic()
    reporter = threading.Thread(
        target=_report, args=(puller, stop, console), name="pull-report", daemon=True
    )
    reporter.start()
    try:
        puller.run(stop, until_empty=args.until_empty)
    except (PermissionError, PullerFatal) as exc:
        console.print(f"[red]pull stopped[/]: {exc}")
        return 2
    finally:
        stop.set()
        shipper.close()
    _print_summary(puller.stats, time.monotonic() - started)
    if not args.until_empty:
        return 0  # a watched service: what was left or rejected is in the log and the metrics
    return 1 if puller.stats.left or puller.stats.rejected else 0


def _report(puller: Any, stop: threading.Event, console: Console) -> None:
    """A status line every 10 s: long-running pullers are watched in logs, not on a terminal."""
    while not stop.wait(10):
        s = puller.stats
        console.print(
            f"{s.messages} messages ({s.deleted} deleted, {s.left} left for redrive), "
            f"{s.objects} files, {s.accepted} events accepted, {s.duplicates} duplicates, "
            f"{s.rejected} rejected, {s.digests} digests skipped"
        )


def _print_summary(stats: Any, seconds: float) -> None:
    rate = stats.accepted / seconds if seconds > 0 else 0.0
    sys.stdout.write(
        f"pulled {stats.messages} messages ({stats.deleted} deleted, {stats.left} left for "
        f"redrive), {stats.objects} log files, {stats.digests} digests and {stats.skipped} "
        f"other objects skipped: {stats.accepted} accepted ({rate:,.0f} events/s), "
        f"{stats.duplicates} duplicates, {stats.rejected} rejected in {seconds:.1f}s\n"
    )
    for failure in stats.failures:
        sys.stdout.write(f"  left: {failure}\n")
