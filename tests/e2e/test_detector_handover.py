"""Kafka-only: a detector that takes a partition over goes on where its former owner stopped.

Detectors in one consumer group split the partitions (scale-out: `leash detect` twice), and a
partition changes hands whenever one joins, leaves or restarts. The engine's windows, held
findings and open incidents live in the owner's memory, so the new owner warms up first: it
replays the partition's latest messages before the group's commit through the engine without
paging (LEASH_DETECT__WARM_MESSAGES). Measured here over a real Kafka-protocol broker (Tansu):
a workload session refused credential reads across the hand-over (6 before, 6 after; 10 in its
first 5 minutes page) is caught once -- cold, it is missed -- and an incident the former owner
paged grows as the same alert.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from detect.alerts.alert import Alert, AlertStore
from detect.services import build_services, start_detection
from detect.settings import DetectSettings
from detect.worker import DetectionWorker
from detect.worker.process import DetectorProcess
from ingest.events import AuditEvent, encode_event
from ingest.runtime import Runtime, open_runtime
from tests.conftest import make_settings
from tests.contract.kafka_broker import TansuBroker, group_offsets
from tests.e2e.kafka_helpers import read_topic, tansu_broker
from tests.factories import BASE_TIME, make_event
from tests.wait import wait_until

__all__ = ["tansu_broker"]  # the fixture, used by name below

pytestmark = pytest.mark.kafka

ROLE = {"role": "reporting-task", "session": "aws-go-sdk-1722375070115152000"}
AGENT = {"role": "deploy-agent", "session": "agent-run-7f3a", "userAgent": "claude-code/1.0"}
WAIT_S = 30.0  # hang guard: a group join on Tansu takes a few seconds


@pytest.fixture
def runtime(tansu_broker: TansuBroker, tmp_path: Path) -> Iterator[Runtime]:
    settings = make_settings(tmp_path).model_copy(
        update={
            "bus_url": tansu_broker.url,
            "kafka": make_settings(tmp_path).kafka.model_copy(
                update={
                    "partitions": 3,
                    "session_timeout_ms": 2000,
                    "heartbeat_interval_ms": 200,
                    "max_poll_interval_ms": 10000,
                    "request_timeout_ms": 5000,
                }
            ),
        }
    )
    with open_runtime(settings) as opened:
        opened.bus.ensure_topics([settings.kafka.topic])
        yield opened


def refused_reads(first: int, count: int) -> list[AuditEvent]:
    return [
        make_event(
            eventName="GetPasswordData",
            eventSource="ec2.amazonaws.com",
            errorCode="Client.UnauthorizedOperation",
            requestParameters={"instanceId": "i-0a1b2c3d4e5f"},
            at=BASE_TIME + timedelta(seconds=10 * i),
            **ROLE,
        )
        for i in range(first, first + count)
    ]


def logging_off(action: str, minute: int) -> list[AuditEvent]:
    return [
        make_event(
            eventName=action,
            eventSource="cloudtrail.amazonaws.com",
            requestParameters={"name": "org-trail"},
            readOnly=False,
            at=BASE_TIME + timedelta(minutes=minute),
            **AGENT,
        )
    ]


def publish(runtime: Runtime, events: list[AuditEvent]) -> None:
    """`events` on the events topic, keyed by principal as the API publishes them."""
    runtime.bus.publisher().publish(
        runtime.settings.kafka.topic,
        [(e.principal_key.encode(), encode_event(e)) for e in events],
    ).result(timeout=10)


def wait_committed(runtime: Runtime, broker: TansuBroker, what: str) -> None:
    """Until the detect group has committed every message of the topic (events travel
    packed, so messages are counted, not events)."""
    topic, group = runtime.settings.kafka.topic, runtime.settings.kafka.detect_group_id

    def all_committed() -> bool:
        ends = {m.partition: m.offset + 1 for m in read_topic(broker, topic)}
        return group_offsets(broker, group, topic) == ends

    wait_until(all_committed, timeout_s=WAIT_S, what=what, poll_s=0.5)


def detector(
    runtime: Runtime, settings: DetectSettings, *, child: bool
) -> DetectionWorker | DetectorProcess:
    """A detector in the detect group: its engine in a thread (`leash detect`), or in a child
    process (`leash up`'s LEASH_PROCESSES=2)."""
    if not child:
        return DetectionWorker(runtime, settings=settings).start()
    return start_detection(build_services(runtime), settings=settings, child=True)


def warm_settings(messages: int) -> DetectSettings:
    return DetectSettings(_env_file=None, warm_messages=messages)  # type: ignore[call-arg]


def handed_over(
    runtime: Runtime,
    broker: TansuBroker,
    before: list[AuditEvent],
    after: list[AuditEvent],
    warm_messages: int,
    *,
    child: bool = False,
) -> list[Alert]:
    """`before` detected by one detector, which then leaves the group; `after` by the one that
    takes the partitions over (`child`: detectors whose engine runs in a child process). The
    alerts stored for the events' principal."""
    settings = warm_settings(warm_messages)
    first = detector(runtime, settings, child=child)
    publish(runtime, before)
    wait_committed(runtime, broker, "the first commit")
    first.stop()
    second = detector(runtime, settings, child=child)
    try:
        publish(runtime, after)
        wait_committed(runtime, broker, "the second commit")
        assert second.events_seen == len(after)  # (replayed events are counted apart)
    finally:
        second.stop()
    return list(AlertStore(runtime.store).list(principal=before[0].principal_key))


@pytest.mark.parametrize(("warm", "child"), [(True, False), (False, False), (True, True)])
def test_refusals_straddling_a_hand_over_page_once_when_warmed_and_are_missed_cold(
    runtime: Runtime, tansu_broker: TansuBroker, warm: bool, child: bool
) -> None:
    before, after = refused_reads(0, 6), refused_reads(6, 6)
    alerts = handed_over(runtime, tansu_broker, before, after, 1000 if warm else 0, child=child)
    assert [a.rule for a in alerts] == (["baseline:denied_session_start"] if warm else [])


def test_an_incident_paged_before_a_hand_over_grows_as_the_same_alert(
    runtime: Runtime, tansu_broker: TansuBroker
) -> None:
    """The new owner holds the former owner's open incident twice over: replayed, and adopted
    from the store at start (detect.worker.build) -- one alert, both calls in it."""
    before, after = logging_off("StopLogging", 0), logging_off("DeleteTrail", 3)
    alerts = handed_over(runtime, tansu_broker, before, after, 1000)
    assert len(alerts) == 1 and alerts[0].event_count == 2
    assert set(alerts[0].event_ids) == {before[0].event_id, after[0].event_id}


@pytest.mark.parametrize("child", [False, True])
def test_an_incident_resolved_before_a_hand_over_stays_resolved_and_the_next_sign_pages(
    runtime: Runtime, tansu_broker: TansuBroker, child: bool
) -> None:
    """Review: the replay re-opened, in the new owner's memory, an alert an analyst had
    resolved (alert ids are deterministic), and the next live finding grew the resolved alert
    -- an "updated", never an "opened", so nobody was paged; the child on an embedded store
    never learned otherwise. The replay's alerts now take their stored status."""
    before, after = logging_off("StopLogging", 0), logging_off("DeleteTrail", 3)
    store = AlertStore(runtime.store)
    first = detector(runtime, warm_settings(1000), child=False)
    publish(runtime, before)
    wait_committed(runtime, tansu_broker, "the first commit")
    first.stop()
    (paged,) = store.list(principal=before[0].principal_key)
    store.set_status(paged.id, "resolved", actor="analyst")
    publish(runtime, after)  # while no detector runs (a deploy)
    second = detector(runtime, warm_settings(1000), child=child)
    try:
        wait_committed(runtime, tansu_broker, "the second commit")
    finally:
        second.stop()
    alerts = {a.id: a for a in store.list(principal=before[0].principal_key)}
    assert alerts.pop(paged.id).status == "resolved"
    (new,) = alerts.values()
    assert new.status == "open" and list(new.event_ids) == [after[0].event_id]
