"""Assembles the HTTP app and the background workers from the ingest and detect layers."""

from __future__ import annotations

from fastapi import FastAPI

from ingest.api import RouterFactory, create_app
from ingest.runtime import Runtime

__all__ = ["build_app", "router_factories", "start_workers"]


def router_factories() -> list[RouterFactory]:
    """Routes beyond ingest, in the order they appear in the OpenAPI document."""
    return []


def start_workers(runtime: Runtime, *, sink: bool, detect: bool) -> None:
    """Start the background workers this process runs (embedded `leash up` runs all of them)."""
    from ingest.runtime import SinkWorker

    if sink:
        group = runtime.settings.kafka.group_id
        runtime.workers.append(SinkWorker(runtime, group_id=group, on_batch=None).start())
    del detect  # detection workers are wired here once the detect layer lands


def build_app(runtime: Runtime) -> FastAPI:
    return create_app(runtime, routers=router_factories())
