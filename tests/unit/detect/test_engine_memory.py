"""What the engine keeps in memory stays within its bounds however many principals pass."""

from __future__ import annotations

from detect.engine import DetectionEngine
from detect.settings import DetectSettings
from tests.factories import user_event


def test_principal_states_stay_within_max_states_and_the_most_recent_are_kept() -> None:
    engine = DetectionEngine(max_states=10)
    for batch in range(5):
        engine.process(
            [user_event(f"user-{batch}-{i}", "ListUsers", {}, batch * 10 + i) for i in range(8)]
        )
    assert len(engine.states) <= 10  # 40 principals seen
    assert set(engine.states) >= {f"arn:aws:iam::123456789012:user/user-4-{i}" for i in range(8)}


def test_max_principals_reaches_the_engine() -> None:
    settings = DetectSettings(_env_file=None, max_principals=7)  # type: ignore[call-arg]
    assert DetectionEngine(**settings.engine_options()).max_states == 7


def test_max_incidents_reaches_the_book() -> None:
    settings = DetectSettings(_env_file=None, max_incidents=5)  # type: ignore[call-arg]
    assert DetectionEngine(**settings.engine_options()).book.max_open == 5
