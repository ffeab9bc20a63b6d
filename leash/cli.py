"""`leash` command line: parse arguments, load settings, open backends, call one library."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uvicorn

    from ingest.ledger import LedgerReport
    from ingest.runtime import Runtime
    from ingest.settings import Settings

logger = logging.getLogger("leash")

EPILOG = """Settings come from LEASH_* environment variables (or a .env file); see README.md.
Quick start:  leash up            (API on 127.0.0.1:8000, dashboard on :8501, data in ./leash-data)
              export LEASH_API_KEY=$(cat leash-data/admin.key)
              leash ship path/to/cloudtrail/ """


def _settings(args: argparse.Namespace) -> Settings:
    """Settings from the environment, with the command line's --data-dir/--host/--port on top."""
    from ingest.settings import Settings

    overrides = {
        name: value
        for name in ("data_dir", "port", "dashboard_port", "host", "processes")
        if (value := getattr(args, name, None)) is not None
    }
    return Settings().model_copy(update=overrides)


def _ensure_admin_key(settings: Settings) -> str:
    """With no LEASH_API_KEYS, create (once) an admin key in DATA_DIR/admin.key, mode 0600."""
    path = Path(settings.data_dir) / "admin.key"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("lsh_" + secrets.token_urlsafe(24) + "\n")
        logger.info("created an admin API key in %s (read it with: cat %s)", path, path)
    return path.read_text().strip()


_DRAINING = threading.Event()  # set once a stop signal came: workers stop on purpose now
_HELD: list[int] = []  # descriptors of the locks this process holds until it exits


class StartError(Exception):
    """Leash cannot start, for a reason the operator can fix (said in one line, no traceback)."""


def _lock_data_dir(data_dir: Path) -> None:
    """Hold DATA_DIR/leash.lock for the life of the process (the kernel releases it at exit,
    kill -9 included): a second Leash on the same folder would fight the first over its log
    and store."""
    import fcntl

    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / "leash.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise StartError(
            f"another Leash (pid {holder}) is running on {data_dir}: stop it first, or give this "
            "one its own folder with --data-dir"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    _HELD.append(fd)


def _check_port(host: str, port: int) -> None:
    """Fail before any work when the API's port is taken (uvicorn would say so only after the
    workers started and "Leash API on ..." was logged)."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise StartError(
                f"cannot listen on {host}:{port} ({exc.strerror}): stop what runs there, or "
                "pick another port with --port (LEASH_PORT)"
            ) from None


def _serve(settings: Settings, *, sink: bool, detect: bool, dashboard: bool) -> int:
    import uvicorn

    from detect.response.routing import RoutesFileError, load_routes
    from ingest.keys import KeysFileError
    from ingest.runtime import open_runtime
    from leash.app import build_app, build_services, start_workers

    try:
        settings.key_entries()  # a keys file that cannot be used stops here, in one line
    except KeysFileError as exc:
        raise StartError(f"{exc} (LEASH_KEYS_FILE)") from None
    if settings.webhook_routes_file is not None:
        try:
            load_routes(settings.webhook_routes_file)
        except RoutesFileError as exc:
            raise StartError(f"{exc} (LEASH_WEBHOOK_ROUTES_FILE)") from None
    if not settings.api_keys and settings.keys_file is None:
        key = _ensure_admin_key(settings)
        settings = settings.model_copy(update={"api_keys": [f"{key}:admin"]})
        if settings.dashboard_api_key is None:
            from pydantic import SecretStr

            settings = settings.model_copy(update={"dashboard_api_key": SecretStr(key)})
    dash: subprocess.Popen[bytes] | None = None
    # uvicorn re-raises the signal that stopped it once it has shut down: a SIGTERM (what
    # systemd, Docker and Kubernetes send) must then unwind like Ctrl-C, so the workers drain
    # and the sink commits, instead of killing the process with the default handler
    signal.signal(signal.SIGTERM, _terminated)
    signal.signal(signal.SIGINT, _interrupted)
    if settings.embedded_bus:  # the embedded log (and store) under the data dir: one owner
        _lock_data_dir(Path(settings.data_dir))
    _check_port(settings.host, settings.port)
    with open_runtime(settings) as runtime:
        services = build_services(runtime)
        start_workers(
            runtime,
            sink=sink,
            services=services,
            detect=detect,
            detect_child=detect and settings.processes > 1,
            pull=bool(settings.sqs.queue_url),
            parse=True,
        )
        app = build_app(services)
        if dashboard:
            dash = _start_dashboard(settings)
        logger.info("Leash API on http://%s:%d (docs at /docs)", settings.host, settings.port)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=settings.host,
                port=settings.port,
                log_level="warning",
                access_log=False,
                lifespan="off",
            )
        )
        # start-up leaves a large heap (chDB, pandas, scikit-learn); freezing it keeps full GC
        # passes from scanning it again and again, which showed up as 50-100 ms decide stalls
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        dead: list[str] = []
        threading.Thread(
            target=_watch_workers, args=(runtime, server, dead), name="watchdog", daemon=True
        ).start()
        try:
            server.run()
        finally:
            if dash is not None:
                dash.terminate()
                dash.wait(timeout=10)
    return 1 if dead else 0


# The serving process's collector thresholds (CPython's default: 700, 10, 10). The ingest path
# allocates a few hundred GC-tracked objects per event (the parsed records' dicts, events, bus
# records); at 700 a request's records were still alive at each young pass, so they were
# promoted and scanned again by the older passes. Measured (bench.ingest_throughput, 100k
# events, CPU time inside the collector): 2.0 s of the API process's 15.1 s at the default,
# 0.7 s of 13.8 s at 50,000; a young pass then takes ~0.5 ms instead of ~0.3 ms.
GC_THRESHOLDS = (50_000, 20, 10)  # tracked-object allocations; young passes per older pass
WATCH_INTERVAL_S = 1.0  # seconds between checks that every worker still runs


def _watch_workers(runtime: Runtime, server: uvicorn.Server, dead: list[str]) -> None:
    """A worker that died (a detector child that kept dying, a crashed sink) stops `leash up`
    loudly, exit status 1, rather than leaving an API up that stores or detects nothing."""
    while not server.should_exit and not _DRAINING.is_set():
        time.sleep(WATCH_INTERVAL_S)
        gone = [type(w).__name__ for w in runtime.workers if not w.alive()]
        if gone and not server.should_exit and not _DRAINING.is_set():
            logger.critical("worker(s) died: %s; stopping leash up (exit status 1)", gone)
            dead.extend(gone)
            server.should_exit = True
            return


def _interrupted(signum: int, frame: object) -> None:  # noqa: ARG001 - a signal handler
    """Ctrl-C unwinds (the workers drain) and exits 130 wherever it lands. Python's own handler
    does the same, but asyncio.run replaces that one while the server starts and turns a
    Ctrl-C in that moment into a quiet cancellation that exited 0."""
    _ignore_stop_signals()
    raise KeyboardInterrupt


def _terminated(signum: int, frame: object) -> None:  # noqa: ARG001 - a signal handler
    """Unwind like Ctrl-C, with exit status 0."""
    _ignore_stop_signals()
    raise SystemExit(0)


def _ignore_stop_signals() -> None:
    """After the first SIGTERM or SIGINT the process drains: a second one (an impatient Ctrl-C,
    a supervisor that repeats itself) must not cut that short. kill -9 still stops it at once,
    and loses nothing acknowledged: the bus and the journals are replayed at the next start."""
    _DRAINING.set()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)


def _start_dashboard(settings: Settings) -> subprocess.Popen[bytes]:
    from ingest.worker import die_with_parent

    env = dict(os.environ)
    env["LEASH_API_URL"] = settings.api_url or f"http://{settings.host}:{settings.port}"
    if settings.dashboard_api_key is not None:
        env["LEASH_DASHBOARD_API_KEY"] = settings.dashboard_api_key.get_secret_value()
    return subprocess.Popen(_dashboard_command(settings), env=env, preexec_fn=die_with_parent)


def _dashboard_command(settings: Settings) -> list[str]:
    app = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.port",
        str(settings.dashboard_port),
        "--server.address",
        settings.host,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]


def cmd_up(args: argparse.Namespace) -> int:
    return _serve(_settings(args), sink=True, detect=True, dashboard=not args.no_dashboard)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings.embedded_bus:
        logger.warning(
            "serve with the embedded bus stores nothing until a sink runs; "
            "use `leash up` for one machine"
        )
    return _serve(settings, sink=False, detect=False, dashboard=False)


def _run_workers(settings: Settings, *, sink: bool, detect: bool) -> int:
    """Run background workers without the API until SIGTERM/SIGINT (compose roles), then drain
    them; the exit status is that of `leash up`: 0 after SIGTERM, 130 after Ctrl-C.

    A detector runs with the response layer beside it: its alerts need webhooks and
    auto-quarantine.
    """
    from ingest.runtime import open_runtime
    from leash.app import build_services, start_workers

    stop = threading.Event()
    stopped_by: list[int] = []

    def on_stop_signal(signum: int, frame: object) -> None:  # noqa: ARG001 - a signal handler
        _ignore_stop_signals()
        stopped_by.append(signum)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_stop_signal)
    if settings.embedded_bus:
        _lock_data_dir(Path(settings.data_dir))
    with open_runtime(settings) as runtime:
        services = build_services(runtime) if detect else None
        start_workers(runtime, sink=sink, services=services, detect=detect)
        logger.info("workers running (bus %s); Ctrl-C to stop", settings.bus_url)
        while not stop.wait(1.0):
            dead = [type(w).__name__ for w in runtime.workers if not w.alive()]
            if dead:
                logger.error("worker(s) died: %s; exiting so the supervisor restarts us", dead)
                return 1
    return 130 if stopped_by == [signal.SIGINT] else 0


def cmd_sink(args: argparse.Namespace) -> int:
    return _run_workers(_settings(args), sink=True, detect=False)


def cmd_detect(args: argparse.Namespace) -> int:
    return _run_workers(_settings(args), sink=False, detect=True)


def cmd_train(args: argparse.Namespace) -> int:
    from detect.cli import run_train

    return run_train(_settings(args))


def cmd_eval(args: argparse.Namespace) -> int:
    from detect.cli import run_eval

    return run_eval(args)


def cmd_dashboard(args: argparse.Namespace) -> int:
    settings = _settings(args)
    return subprocess.call(_dashboard_command(settings))


def cmd_ship(args: argparse.Namespace) -> int:
    from leash.shipcli import run_ship

    return run_ship(args)


def cmd_pull(args: argparse.Namespace) -> int:
    from leash.pullcli import run_pull

    return run_pull(args, _settings(args))


def cmd_verify(args: argparse.Namespace) -> int:
    from ingest import schema
    from ingest.ledger import verify_ledger
    from ingest.signing import ChainSigner, SigningKeyError, load_public_key
    from ingest.sink.verify import verify_store
    from ingest.store import open_store
    from ingest.store.journal import unrecovered_rows

    settings = _settings(args)
    local = settings.signing_key_path
    try:
        if args.print_public_key:
            if not local.exists():
                sys.stderr.write(
                    f"no signing key at {local}: it is made when Leash first runs here\n"
                )
                return 2
            sys.stdout.write(ChainSigner.load_or_create(local).public_pem())
            return 0
        keys = [load_public_key(path) for path in args.public_key]
        if not keys and local.exists():
            keys = [ChainSigner.load_or_create(local).public]
    except SigningKeyError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    # the local key: batches written before this Leash signed are legacy, not tampering;
    # an exported key given on purpose holds every batch to it
    strict = bool(args.public_key)
    store = open_store(settings.resolved_store_url)
    try:
        report = verify_store(store, keys, strict=strict)
        # batch records a killed process journaled but did not store: its rows are stored
        pending = unrecovered_rows(settings.journal_dir, schema.LEDGER_BATCHES)
        ledger = verify_ledger(store, keys, strict=strict, pending=pending)
    finally:
        store.close()
    for problem in [*report.problems, *ledger.problems]:
        sys.stderr.write(f"TAMPERED {problem}\n")
    legacy = f", {report.legacy} older unsigned batches" if report.legacy else ""
    against = (
        f", {report.signed} signatures checked against {len(keys)} key(s){legacy}"
        + ("" if args.public_key else f" (the local {local.name}: pass --public-key for a copy)")
        if keys
        else ", no signatures checked (no --public-key, no local signing key)"
    )
    sys.stdout.write(
        f"verified {report.batches} batches, {report.rows} rows{against}: "
        f"{'OK' if report.ok else f'{len(report.problems)} problem(s)'}\n"
    )
    sys.stdout.write(_ledger_line(ledger, keys=bool(keys)))
    return 0 if report.ok and ledger.ok else 1


def _ledger_line(ledger: LedgerReport, *, keys: bool) -> str:
    if not ledger.chained:
        return "ledger: not chained in this store yet (a Leash that chains it upgrades the store)\n"
    notes = [f"{ledger.signed} signatures checked"] if keys else []
    if ledger.legacy_rows:
        notes.append(f"{ledger.legacy_rows} rows from before chaining")
    if ledger.legacy_batches:
        notes.append(f"{ledger.legacy_batches} older unsigned batches")
    if ledger.pending:
        notes.append(f"{ledger.pending} batches read from a stopped process's journal")
    verdict = "OK" if ledger.ok else f"{len(ledger.problems)} problem(s)"
    return (
        f"ledger: verified {ledger.batches} batches in {ledger.chains} chains, {ledger.rows} "
        f"rows{''.join(', ' + n for n in notes)}: {verdict}\n"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leash",
        description="Leash: audit trail, anomaly detection and a pre-action gate for AI agents.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str,
        func: Callable[[argparse.Namespace], int],
        help_text: str,
        *,
        server: bool = False,
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        p.add_argument(
            "--data-dir", type=Path, help="data directory (LEASH_DATA_DIR, ./leash-data)"
        )
        if server:
            p.add_argument("--host", help="bind address (LEASH_HOST, 127.0.0.1)")
            p.add_argument("--port", type=int, help="API port (LEASH_PORT, 8000)")
        return p

    up = add(
        "up", cmd_up, "run everything on one machine: API, sink, detector, dashboard", server=True
    )
    up.add_argument(
        "--dashboard-port", type=int, help="dashboard port (LEASH_DASHBOARD_PORT, 8501)"
    )
    up.add_argument("--no-dashboard", action="store_true", help="do not start the dashboard")
    up.add_argument(
        "--processes",
        type=int,
        choices=(1, 2),
        help="2: the detection engine in a child process, off the API's GIL; 1: everything in "
        "one process (LEASH_PROCESSES, 2)",
    )
    add(
        "serve",
        cmd_serve,
        "run the HTTP API only (for compose: pair with sink and detect)",
        server=True,
    )
    add("sink", cmd_sink, "run the bus -> store writer only")
    add("detect", cmd_detect, "run the detection worker (with webhooks and auto-quarantine) only")
    add(
        "train",
        cmd_train,
        "train the detector on stored history (embedded store: stop `leash up` first, "
        "or use POST /v1/detector/train)",
    )
    from detect.cli import add_eval_arguments

    ev = sub.add_parser(
        "eval",
        help="score detection on generated and real labelled CloudTrail",
        description="Leash vs. a CloudTrail-Insights-like z-score and single-event rules alone, "
        "on seeded synthetic traffic with labelled incidents and on ../shared/datasets; "
        "prints precision, recall, F1, alerts per incident and time-to-detect tables.",
    )
    ev.set_defaults(func=cmd_eval)
    add_eval_arguments(ev)
    dash = add(
        "dashboard",
        cmd_dashboard,
        "run the Streamlit dashboard against LEASH_API_URL",
        server=False,
    )
    dash.add_argument("--dashboard-port", type=int, help="port (LEASH_DASHBOARD_PORT, 8501)")
    dash.add_argument("--host", help="bind address (LEASH_HOST)")
    verify = add(
        "verify",
        cmd_verify,
        "check the hash chains and signatures of an embedded store no process holds: "
        "ingest batches and Leash's own ledger (alerts, decisions, approvals, principal changes)",
    )
    verify.add_argument(
        "--public-key",
        type=Path,
        action="append",
        default=[],
        metavar="PEM",
        help="a Leash process's public key exported earlier (repeat for several hosts); every "
        "ingest and ledger batch must be signed by one of them. Default: the local signing "
        "key's public half",
    )
    verify.add_argument(
        "--print-public-key",
        action="store_true",
        help="print the local signing key's public half (PEM) to keep elsewhere, and exit",
    )
    from leash.cliargs import HelpWithDefaults
    from leash.shipcli import add_ship_arguments

    add_ship_arguments(
        sub.add_parser(
            "ship",
            help="send CloudTrail files, directories or stdin to a Leash API",
            description="Send CloudTrail log files (.json, .json.gz, NDJSON), directories "
            "(recursive) or stdin (-) to POST /v1/events. Exits 1 if any record was rejected, "
            "2 on a usage error (a missing path, a --url Leash does not answer at).",
            formatter_class=HelpWithDefaults,
        )
    )
    from leash.pullcli import add_pull_arguments

    pull = sub.add_parser(
        "pull",
        help="pull CloudTrail from AWS: S3 log files announced on an SQS queue",
        description="Pull CloudTrail log files from S3 as an SQS queue announces them "
        "(CloudTrail's SNS notification, S3 event notifications or EventBridge), and send their "
        "records to a Leash API. A message is deleted only after its records are durable.",
    )
    add_pull_arguments(pull.add_subparsers(dest="source", required=True, metavar="SOURCE"))
    pull.set_defaults(func=cmd_pull)
    from leash.hookcli import add_hook_arguments

    add_hook_arguments(sub)
    from leash.gatecli import add_gate_arguments

    add_gate_arguments(sub)
    return parser


def hook_parser() -> argparse.ArgumentParser:
    """`leash hook ...` alone: an agent runtime starts it before every tool call, so it skips
    the other commands' imports (~0.25 s of the ~0.5 s the full parser costs)."""
    from leash.hookcli import add_hook_arguments

    parser = argparse.ArgumentParser(prog="leash")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_hook_arguments(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    args = (hook_parser() if given[:1] == ["hook"] else build_parser()).parse_args(given)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else os.environ.get("LEASH_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request and kafka-python every connection at INFO: noise for operators
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.WARNING)
    # botocore's debug output carries request headers: the AWS session token among them
    for name in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except StartError as exc:
        sys.stderr.write(f"leash: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
