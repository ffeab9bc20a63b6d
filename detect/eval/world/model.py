"""Public data model: Label, PrincipalInfo and World, with NDJSON/JSON file round-tripping."""

from __future__ import annotations

import gc
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .clock import iso

Rec = dict[str, Any]


@dataclass(frozen=True)
class Label:
    """One labelled episode: an incident (should page) or a benign-but-unusual trap."""

    id: str
    kind: str
    category: str
    principals: tuple[str, ...]
    event_ids: tuple[str, ...]
    damaging_ids: tuple[str, ...]
    start_ms: int
    end_ms: int
    description: str
    variant: str = ""

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Label:
        """Rebuild a Label from its JSON form."""
        return Label(
            id=d["id"],
            kind=d["kind"],
            category=d["category"],
            principals=tuple(d["principals"]),
            event_ids=tuple(d["event_ids"]),
            damaging_ids=tuple(d["damaging_ids"]),
            start_ms=d["start_ms"],
            end_ms=d["end_ms"],
            description=d["description"],
            variant=d.get("variant", ""),
        )


@dataclass(frozen=True)
class PrincipalInfo:
    """Summary of one cast member."""

    arn: str
    kind: str
    family: str
    description: str
    account: str

    @staticmethod
    def from_dict(d: dict[str, Any]) -> PrincipalInfo:
        """Rebuild from JSON."""
        return PrincipalInfo(d["arn"], d["kind"], d["family"], d["description"], d["account"])


@dataclass(frozen=True)
class World:
    """A generated world: records, labels, time boundaries and the cast."""

    seed: int
    start_ms: int
    baseline_until_ms: int
    end_ms: int
    records: list[Rec]
    labels: list[Label]
    principals: list[PrincipalInfo]
    meta: dict[str, Any]

    def to_files(self, out: str | Path) -> None:
        """Write records.baseline.ndjson, records.test.ndjson, labels.json and world.json."""
        d = Path(out)
        d.mkdir(parents=True, exist_ok=True)
        cut = iso(self.baseline_until_ms)
        with (
            (d / "records.baseline.ndjson").open("w") as fb,
            (d / "records.test.ndjson").open("w") as ft,
        ):
            encode = json.JSONEncoder(check_circular=False).encode
            for rec in self.records:
                (fb if rec["eventTime"] < cut else ft).write(encode(rec) + "\n")
        (d / "labels.json").write_text(json.dumps([asdict(lb) for lb in self.labels], indent=1))
        info = {
            "seed": self.seed,
            "start_ms": self.start_ms,
            "baseline_until_ms": self.baseline_until_ms,
            "end_ms": self.end_ms,
            "principals": [asdict(p) for p in self.principals],
            "meta": self.meta,
        }
        (d / "world.json").write_text(json.dumps(info, indent=1))

    @staticmethod
    def from_files(src: str | Path) -> World:
        """Load a world written by to_files."""
        d = Path(src)
        info = json.loads((d / "world.json").read_text())
        records: list[Rec] = []
        enabled = gc.isenabled()
        gc.disable()
        try:
            for name in ("records.baseline.ndjson", "records.test.ndjson"):
                with (d / name).open() as fh:
                    records.extend(json.loads(line) for line in fh if line.strip())
        finally:
            if enabled:
                gc.enable()
        labels = [Label.from_dict(x) for x in json.loads((d / "labels.json").read_text())]
        return World(
            seed=info["seed"],
            start_ms=info["start_ms"],
            baseline_until_ms=info["baseline_until_ms"],
            end_ms=info["end_ms"],
            records=records,
            labels=labels,
            principals=[PrincipalInfo.from_dict(p) for p in info["principals"]],
            meta=info.get("meta", {}),
        )
