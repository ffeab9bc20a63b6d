"""What a restarted process knows before its first request."""

from __future__ import annotations

from ingest.events import Origin
from ingest.parse import ParsedBody
from ingest.runtime import open_runtime
from ingest.settings import Settings
from tests.factories import make_record

LOCAL = Origin("test:local", trusted=True)


def test_events_durable_on_the_log_but_not_stored_count_as_duplicates_after_a_restart(
    settings: Settings,
) -> None:
    """A client that got no answer before a crash sends again: what the log already holds is a
    duplicate (the dedupe cache is seeded from the log's unprocessed tail, not only the store)."""
    records = [make_record() for _ in range(50)]
    with open_runtime(settings) as runtime:  # no sink runs: nothing reaches the store
        first = runtime.service.ingest_blocking(ParsedBody(records, {}), origin=LOCAL)
        assert first.accepted == 50
    with open_runtime(settings) as runtime:
        again = runtime.service.ingest_blocking(
            ParsedBody([*records, make_record()], {}), origin=LOCAL
        )
    assert (again.accepted, again.duplicates) == (1, 50)


class StopRecorder:
    """A worker that only notes when it is stopped."""

    def __init__(self, name: str, stopped: list[str]) -> None:
        self.name = name
        self._stopped = stopped

    def alive(self) -> bool:
        return True

    def backlog(self) -> int:
        return 0

    def stop(self, timeout_s: float = 0.0) -> None:  # noqa: ARG002 - the Worker signature
        self._stopped.append(self.name)


def test_workers_stop_newest_first_so_none_outlives_what_it_feeds(settings: Settings) -> None:
    """The detector reports to the services' outbox and journals: stopped after them, its last
    batch's webhook rows went into closed journals and were lost."""
    stopped: list[str] = []
    with open_runtime(settings) as runtime:
        runtime.workers += [StopRecorder(name, stopped) for name in ("services", "detection")]
    assert stopped == ["detection", "services"]
