"""Assembles the HTTP app and the background workers from the ingest and detect layers."""

from __future__ import annotations

from fastapi import FastAPI

from ingest.api import RouterFactory, create_app
from ingest.runtime import Runtime, SinkWorker

__all__ = ["build_app", "router_factories", "start_workers"]


def router_factories() -> list[RouterFactory]:
    """Routes beyond ingest, matched in this order (the gate's decide route is the hot path)."""
    from detect.api.alerts import create_router as detect_router
    from detect.api.response import create_router as response_router

    return [response_router, detect_router]


def start_workers(runtime: Runtime, *, sink: bool, detect: bool, response: bool = False) -> None:
    """Start the background workers this process runs (embedded `leash up` runs all of them).

    Every subscriber joins the bus before any worker starts, so the embedded bus never trims a
    record that a group which is about to read it has not seen.
    """
    sink_worker = None
    if sink:
        group = runtime.settings.kafka.group_id
        sink_worker = SinkWorker(runtime, group_id=group, on_batch=None)
    if response:
        from detect.services import start_response

        runtime.workers.append(start_response(runtime))
    if detect:
        from detect.worker import start_detection

        runtime.workers.append(start_detection(runtime))
    if sink_worker is not None:
        runtime.workers.append(sink_worker.start())


def build_app(runtime: Runtime) -> FastAPI:
    from detect.api.decide import DecideFastPath
    from detect.services import response_services

    app = create_app(runtime, routers=router_factories())
    app.add_middleware(DecideFastPath, gate=response_services(runtime).gate, auth=app.state.auth)
    return app
