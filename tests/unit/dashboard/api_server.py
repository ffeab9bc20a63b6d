"""A Leash API process for the dashboard tests: `python -m tests.unit.dashboard.api_server`.

A separate process because chDB allows one embedded store per process: the tests' own process
stays free for every other test's store. `--bare` serves the ingest routes only.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from ingest.runtime import Runtime, open_runtime
from ingest.settings import Settings
from leash.app import build_app, build_services, start_workers

logger = logging.getLogger(__name__)


def wire(runtime: Runtime) -> FastAPI:
    """What `leash up` runs: every worker (the response layer's too) and every router."""
    services = build_services(runtime)
    start_workers(runtime, sink=True, services=services, detect=True)
    return build_app(services)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--bare", action="store_true", help="ingest routes only, no workers")
    args = parser.parse_args()
    logging.basicConfig(level=os.environ.get("LEASH_LOG_LEVEL", "WARNING"))
    settings = Settings(data_dir=args.data_dir, port=args.port)
    with open_runtime(settings) as runtime:
        if args.bare:
            from ingest.api import create_app

            start_workers(runtime, sink=True)
            app = create_app(runtime)
        else:
            app = wire(runtime)
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="off")


if __name__ == "__main__":
    main()
