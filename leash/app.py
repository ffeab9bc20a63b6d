"""Assembles a Leash process: its services, background workers and HTTP app (no logic here)."""

from __future__ import annotations

from fastapi import FastAPI

from detect.api import alerts as alert_routes
from detect.api import gate as gate_routes
from detect.api import response as response_routes
from detect.api.decide import DecideFastPath
from detect.services import Services, ServiceWorker, build_services, start_detection
from detect.settings import DetectSettings
from ingest.allocator import HeapTrimmer
from ingest.api import RouterFactory, create_app
from ingest.aws.worker import SqsPullWorker
from ingest.parsepool import ParseConfig, ParsePool
from ingest.runtime import Runtime
from ingest.settings import Settings
from ingest.sink.worker import SinkWorker

__all__ = ["build_app", "build_services", "router_factories", "start_workers"]


def router_factories(services: Services) -> list[RouterFactory]:
    """Routes beyond ingest, matched in this order (the gate's decide route is the hot path)."""
    return [
        lambda auth: gate_routes.create_router(services, auth),
        lambda auth: response_routes.create_router(services, auth),
        lambda auth: alert_routes.create_router(services, auth),
    ]


def start_workers(
    runtime: Runtime,
    *,
    sink: bool,
    services: Services | None = None,
    detect: bool = False,
    detect_settings: DetectSettings | None = None,
    detect_child: bool = False,
    pull: bool = False,
    parse: bool = False,
) -> None:
    """Start the background workers this process runs (embedded `leash up` runs all of them).

    `sink` runs the bus -> store writer; `services` runs the response and gate threads (webhook
    outbox, journaled logs, health poll); `detect` runs the detection worker wired to them
    (`detect_child`: its engine in a child process);
    `pull` runs the S3 + SQS puller of LEASH_SQS__QUEUE_URL into this process's bus;
    `parse` starts LEASH_PARSE_PROCESSES processes that parse large POST bodies (none if 0).
    Every subscriber joins the bus before any worker starts, so the embedded bus never trims a
    record that a group which is about to read it has not seen. Workers start in the order of
    what they feed and stop in reverse (ingest.runtime.open_runtime): the services before the
    detector that reports to them, the sink before the puller that fills its bus.
    """
    if detect and services is None:
        raise ValueError("detection needs the services it reports alerts to")
    sink_worker = SinkWorker(runtime, group_id=runtime.settings.kafka.group_id) if sink else None
    if parse and runtime.settings.parse_processes:
        pool = start_parse_pool(runtime.settings)
        runtime.service.pool = pool
        runtime.workers.append(pool)
    if runtime.settings.heap_trim_interval_s:
        release = getattr(runtime.store, "release_memory", None)  # an embedded chDB store's
        trimmer = HeapTrimmer(runtime.settings.heap_trim_interval_s, release=release)
        runtime.workers.append(trimmer.start())
    if services is not None:
        runtime.workers.append(ServiceWorker(services).start())
        if detect:
            runtime.workers.append(
                start_detection(services, settings=detect_settings, child=detect_child)
            )
    if sink_worker is not None:
        runtime.workers.append(sink_worker.start())
    if pull:
        runtime.workers.append(SqsPullWorker(runtime).start())


def start_parse_pool(settings: Settings) -> ParsePool:
    return ParsePool(ParseConfig.from_settings(settings), settings.parse_processes).start()


def build_app(services: Services) -> FastAPI:
    """The HTTP app: ingest routes, the detect layer's routes and the decide fast path."""
    app = create_app(services.runtime, routers=router_factories(services))
    app.add_middleware(DecideFastPath, gate=services.gate, auth=app.state.auth)
    return app
