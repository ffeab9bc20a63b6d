"""`leash ship` arguments and terminal output (progress bar, summary); the work is ingest.ship."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ingest.ship import Shipper, ShipSummary
from leash.cliargs import add_api_arguments

MAX_LISTED_REJECTIONS = 20
API_WAIT_S = 30.0  # how long `leash ship` waits for an API that does not answer yet


def add_ship_arguments(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=run_ship)
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="file, directory, - for stdin, or s3://bucket/prefix (AWS credentials, region and "
        "endpoint from the standard chain: AWS_PROFILE, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL)",
    )
    add_api_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=1000, help="records per request")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--checkpoint",
        metavar="FILE",
        type=Path,
        help="s3:// only: file of finished keys; a rerun skips them "
        "(default: one per URL under ~/.cache/leash/ship)",
    )
    parser.add_argument(
        "--rejects",
        metavar="FILE",
        help="write every rejected record's source, index and error as NDJSON",
    )


def run_ship(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    if not args.api_key:
        console.print(
            "[red]no API key[/]: pass --api-key or set LEASH_API_KEY "
            "(after `leash up`: export LEASH_API_KEY=$(cat leash-data/admin.key))"
        )
        return 2
    problem = _check_paths(args.paths) or check_url(args.url, console)
    if problem:
        console.print(f"[red]cannot ship[/]: {problem}")
        return 2
    shipper = Shipper(
        args.url, args.api_key, batch_size=args.batch_size, concurrency=args.concurrency
    )
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        disable=args.quiet or not console.is_terminal,
    )
    task = progress.add_task("shipping", total=None)

    def report(summary: ShipSummary, seconds: float) -> None:
        rate = summary.accepted / seconds if seconds > 0 else 0.0
        progress.update(
            task,
            description=(
                f"{summary.files} files, {summary.accepted} accepted ({rate:,.0f} events/s), "
                f"{summary.duplicates} duplicates, {summary.rejected} rejected"
            ),
        )

    s3 = None
    if any(p.startswith("s3://") for p in args.paths):
        import boto3

        s3 = boto3.session.Session().client("s3")
    try:
        with progress:
            summary = shipper.ship(args.paths, progress=report, s3=s3, checkpoint=args.checkpoint)
    except (PermissionError, RuntimeError, ValueError) as exc:
        console.print(f"[red]ship failed[/]: {exc}")
        return 2
    finally:
        shipper.close()
    _print_summary(summary)
    if args.rejects:
        with open(args.rejects, "wb") as handle:
            for r in summary.rejections:
                handle.write(orjson.dumps({"source": r.source, "index": r.index, "error": r.error}))
                handle.write(b"\n")
    return 1 if summary.rejected else 0


def _check_paths(paths: list[str]) -> str:
    """What is wrong with the local paths (a typo must not ship nothing and exit 0)."""
    missing = [p for p in paths if p != "-" and "://" not in p and not Path(p).exists()]
    if missing:
        return f"no such file or directory: {', '.join(missing)}"
    return ""


def check_url(url: str, console: Console, wait_s: float = API_WAIT_S) -> str:
    """What is wrong with --url: not http(s), or no Leash answering there. Waits up to `wait_s`
    for an API that is still starting (saying so at once), instead of retrying each batch in
    silence."""
    if not url.startswith(("http://", "https://")):
        return f"--url must start with http:// or https:// (got {url!r}; e.g. http://{url})"
    deadline, said = time.monotonic() + wait_s, False
    while True:
        try:
            httpx.get(url.rstrip("/") + "/healthz", timeout=5.0)
            return ""
        except httpx.TransportError as exc:
            problem = (
                f"cannot reach Leash at {url} ({exc or type(exc).__name__}): is `leash up` "
                "running there? Point --url (or LEASH_API_URL) at it"
            )
        if time.monotonic() > deadline:
            return problem
        if not said:
            console.print(f"[yellow]waiting up to {wait_s:.0f} s[/]: {problem}")
            said = True
        time.sleep(0.5)


def _print_summary(summary: ShipSummary) -> None:
    out: Any = sys.stdout
    rate = summary.accepted / summary.seconds if summary.seconds else 0.0
    out.write(
        f"shipped {summary.files} files, {summary.records} records in {summary.seconds:.1f}s: "
        f"{summary.accepted} accepted ({rate:,.0f} events/s), {summary.duplicates} duplicates, "
        f"{summary.rejected} rejected, {len(summary.skipped_files)} files skipped (not JSON), "
        f"{summary.digests} CloudTrail digest files skipped\n"
    )
    if summary.resumed:
        out.write(
            f"  {summary.resumed} S3 objects already shipped by an earlier run (checkpoint)\n"
        )
    by_error = Counter(r.error for r in summary.rejections)
    for error, count in by_error.most_common(MAX_LISTED_REJECTIONS):
        first = next(r for r in summary.rejections if r.error == error)
        where = first.source if first.index < 0 else f"{first.source} record {first.index}"
        out.write(f"  {count} rejected: {error} (first: {where})\n")
    if len(by_error) > MAX_LISTED_REJECTIONS:
        out.write(
            f"  ... and {len(by_error) - MAX_LISTED_REJECTIONS} more kinds of error "
            "(--rejects FILE lists them all)\n"
        )
