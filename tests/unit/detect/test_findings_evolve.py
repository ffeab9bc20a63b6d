"""`evolve` (triage's copy of a finding with a new tier) builds what dataclasses.replace builds."""

from __future__ import annotations

import dataclasses

from detect.findings import Finding, evolve


def _finding() -> Finding:
    return Finding(
        principal="arn:aws:iam::123456789012:user/zoe",
        actor_kind="human",
        kind="anomaly",
        rule="baseline:bulk_data_read",
        severity="medium",
        score=0.7,
        event_ids=("e1", "e2"),
        first_event_ms=1,
        last_event_ms=2,
        summary="120 data reads in 10 min",
        explanation={"data_reads_10m": {"value": 120.0}},
    )


def test_evolve_equals_replace_and_leaves_the_original() -> None:
    finding = _finding()
    changes = {"tier": "hold", "twin": "a scratch bucket", "explanation": {"triage": "x"}}
    copy = evolve(finding, **changes)
    assert copy == dataclasses.replace(finding, **changes)
    assert type(copy) is Finding and copy is not finding
    assert (finding.tier, finding.twin) == ("page", "")


def test_finding_keeps_what_evolve_relies_on() -> None:
    """A __post_init__ or an InitVar would be skipped by evolve's copy of the fields: give
    evolve the same logic (or use dataclasses.replace) before adding either."""
    assert not hasattr(Finding, "__post_init__")
    declared = Finding.__dataclass_fields__.values()  # InitVars and ClassVars included
    assert [f.name for f in declared] == [f.name for f in dataclasses.fields(Finding)]
    assert set(_finding().__dict__) == {f.name for f in dataclasses.fields(Finding)}
