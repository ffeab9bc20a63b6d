"""`evolve` (triage's copy of a finding with a new tier) builds what dataclasses.replace builds."""

from __future__ import annotations

import dataclasses

import pytest

from detect.findings import Finding, evolve, frozen_record


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


def test_frozen_record_builds_what_the_dataclass_init_builds() -> None:
    """frozen_record's __init__ against the one @dataclass(frozen=True) generates for the same
    fields: positional and keyword calls, defaults, a fresh default_factory value each time."""

    @dataclasses.dataclass(frozen=True)
    class Generated:
        a: int
        state: str = "b"
        c: dict[str, int] = dataclasses.field(default_factory=dict)

    @frozen_record
    class Fast:
        a: int
        state: str = "b"
        c: dict[str, int] = dataclasses.field(default_factory=dict)

    for args, kwargs in [((1,), {}), ((1, "x"), {}), ((1,), {"c": {"k": 2}}), ((), {"a": 3})]:
        fast, generated = Fast(*args, **kwargs), Generated(*args, **kwargs)
        assert dataclasses.astuple(fast) == dataclasses.astuple(generated)
        assert list(fast.__dict__) == list(generated.__dict__)
    assert Fast(1).c is not Fast(1).c
    assert Fast(1, "x") == Fast(1, "x") != Fast(2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        Fast(1).a = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        Fast()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Fast(1, d=2)  # type: ignore[call-arg]
    assert Fast(1).state == "b" and Fast(1, "x").state == "x"
    assert Fast.__init__.__qualname__.endswith("Fast.__init__")


def test_frozen_record_refuses_what_its_init_would_skip_or_clash_with() -> None:
    with pytest.raises(TypeError, match="named self"):

        @frozen_record
        class Clashing:
            self: int

    with pytest.raises(TypeError, match="__post_init__"):

        @frozen_record
        class Checked:
            a: int

            def __post_init__(self) -> None:
                raise AssertionError("never called by frozen_record's __init__")
