"""The gate's view of a real detection worker that falls behind the bus: a grace, then fail safe.

LEASH_GATE_MAX_LAG_MESSAGES / LEASH_GATE_MAX_LAG_S promise that a detector behind the bus by more
than N messages stays trusted for S seconds (a burst of ingest is normal) and only then makes
dangerous actions need approval. This drives the real DetectionWorker's status, with its engine
held mid-batch so its lag is real and stays put, through DetectionHealth and the decide gate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from detect.engine import EngineOutput
from detect.gate.health import DetectionHealth
from detect.services import Services, build_services, start_detection
from ingest.events import AuditEvent, encode_event
from ingest.runtime import open_runtime
from ingest.settings import Settings
from tests.conftest import FakeClock
from tests.factories import make_record

LAG_LIMIT = 20  # messages (LEASH_GATE_MAX_LAG_MESSAGES in this test)
GRACE_S = 30.0  # seconds (LEASH_GATE_MAX_LAG_S)
BACKLOG = 200  # messages published while the detector is held
WAIT_S = 20.0


@pytest.fixture
def held(settings: Settings) -> Iterator[tuple[Services, FakeClock, threading.Event]]:
    """Services with a running detector whose engine blocks inside its first batch."""
    settings = settings.model_copy(
        update={"gate_max_lag_messages": LAG_LIMIT, "gate_max_lag_s": GRACE_S}
    )
    release = threading.Event()
    entered = threading.Event()
    with open_runtime(settings) as runtime:
        services = build_services(runtime)
        clock = FakeClock()
        # the same health check build_services makes, measuring the grace on a clock we move
        services.gate.health = DetectionHealth(
            lambda: services.detection,
            max_lag_messages=settings.gate_max_lag_messages,
            max_lag_s=settings.gate_max_lag_s,
            clock=clock,
        )
        worker = start_detection(services)
        runtime.workers.append(worker)
        real = worker.engine.process

        def process(events: list[AuditEvent]) -> EngineOutput:
            entered.set()
            release.wait(WAIT_S)
            return real(events)

        worker.engine.process = process  # type: ignore[method-assign]
        start = datetime(2026, 3, 2, 10, tzinfo=UTC)
        events = [
            runtime.normalizer.normalize(make_record(at=start + timedelta(seconds=i)))
            for i in range(BACKLOG)
        ]
        publisher = runtime.bus.publisher()
        publisher.publish(runtime.settings.kafka.topic, [(b"k0", encode_event(events[0]))]).result()
        assert entered.wait(WAIT_S), "the detector never started its first batch"
        publisher.publish(
            runtime.settings.kafka.topic,
            [(e.principal_key.encode(), encode_event(e)) for e in events[1:]],
        ).result()
        try:
            yield services, clock, release
        finally:
            release.set()


def test_a_lagging_detector_gets_the_documented_grace_then_fails_safe(
    held: tuple[Services, FakeClock, threading.Event],
) -> None:
    services, clock, release = held
    detector = services.detection
    assert detector is not None
    status = detector.status()
    # alive, no model yet (a fresh install), and far more behind than the gate's limit
    assert status["alive"] and status["lag"] > LAG_LIMIT
    # the worker reports lag; judging it is the gate's job (before the fix the worker called
    # itself stale past its own 10,000-message limit, so the gate's grace could never apply)
    assert status["stale"] is False

    health = services.gate.health
    assert health.poll() == (True, "catching up")
    clock.advance(GRACE_S - 1)
    assert health.poll() == (True, "catching up")
    dangerous = {"action": "DeleteDBInstance", "source": "rds.amazonaws.com"}
    human = "arn:aws:iam::123456789012:user/alice"
    during = services.gate.decide(principal=human, resources=["db-1"], key_id="k", **dangerous)
    assert during.decision == "allow"

    clock.advance(2)
    ok, reason = health.poll()
    assert not ok and f"{status['lag']} messages behind" in reason
    after = services.gate.decide(principal=human, resources=["db-2"], key_id="k", **dangerous)
    assert (after.decision, after.rule) == ("require_approval", "fail_safe")

    release.set()  # the detector catches up: trusted again at once
    deadline = time.monotonic() + WAIT_S
    while detector.backlog() > LAG_LIMIT and time.monotonic() < deadline:
        time.sleep(0.05)
    assert health.poll() == (True, "ok")
