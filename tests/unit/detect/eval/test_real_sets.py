"""Floors on the real labelled sets in ../shared/datasets, at the engine level (what pages).

These recordings come from other accounts and other hands than Leash's generators: Stratus Red
Team detonations (one technique per file, each replayed into a fresh engine), the invictus-ir
account-hour (26 techniques among ~2.7k benign events: setup, clean-up and background) and
Panther's CloudTrail unit tests (each log alone). A detection change that loses a technique or
pages more on the benign parts fails here; raise the floors when the numbers improve.
"""

from __future__ import annotations

import pytest

from detect.eval.datasets import DatasetScore, evaluate_datasets
from detect.rules.catalogue import load_rules
from detect.settings import DetectSettings
from tests.factories import DATASETS

STRATUS_CAUGHT = 32  # of 35 techniques open an alert in a fresh engine
INVICTUS_CAUGHT = 22  # of 26 techniques flagged
INVICTUS_ALERTS = 4  # alerts over the account-hour (benign: 2,742 events)
PANTHER_CAUGHT = 80  # of 204 logs Panther expects to alert
PANTHER_FALSE = 32  # of 237 logs Panther expects not to alert (evidence of any finding)
PANTHER_PAGED = 12  # of those 237, logs that open an alert


@pytest.fixture(scope="module")
def leash() -> dict[str, DatasetScore]:
    if not DATASETS.is_dir():
        pytest.skip(f"the real datasets are not at {DATASETS}")
    options = DetectSettings(_env_file=None).engine_options()  # type: ignore[call-arg]
    scores = evaluate_datasets(DATASETS, load_rules(), engine_options=options)
    return {s.dataset: s for s in scores if s.engine == "leash"}


def test_stratus_techniques_page_in_a_fresh_install(leash: dict[str, DatasetScore]) -> None:
    stratus = leash["stratus"]
    assert stratus.positives == 35
    assert stratus.caught >= STRATUS_CAUGHT, stratus.notes.get("missed")


def test_invictus_techniques_are_caught_and_the_benign_hour_stays_quiet(
    leash: dict[str, DatasetScore],
) -> None:
    invictus = leash["invictus"]
    assert invictus.positives == 26
    assert invictus.caught >= INVICTUS_CAUGHT
    assert invictus.alerts <= INVICTUS_ALERTS
    assert 1000 * invictus.alerts / invictus.negatives < 2  # alerts per 1k benign events


def test_panther_fixtures(leash: dict[str, DatasetScore]) -> None:
    panther = leash["panther"]
    assert panther.caught >= PANTHER_CAUGHT
    assert panther.false_flags <= PANTHER_FALSE
    assert panther.alerts <= PANTHER_PAGED
