"""What the detector child and its supervisor send each other (pickled over one pipe).

The supervisor sends a Batch (controls to apply first, then the bus records' values) and
waits for its Result; the child may ask StoreQuery's (ingest.store.pipe) meanwhile. The child
announces itself with Ready, and ends on Stop or when the pipe closes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from detect.alerts.alert import Alert
from detect.alerts.suppression import Suppression
from detect.gate.service import Decision

__all__ = [
    "Batch",
    "Control",
    "FalsePositive",
    "LoadModel",
    "ModelInfo",
    "Observe",
    "Progress",
    "Ready",
    "Result",
    "SetStatus",
    "Stop",
    "Suppress",
    "Unsuppress",
]


@dataclass(frozen=True)
class SetStatus:
    """An alert was acknowledged or resolved through the API."""

    alert_id: str
    status: str


@dataclass(frozen=True)
class Observe:
    """A decide answer, for the approval-bypass rule."""

    decision: Decision


@dataclass(frozen=True)
class Suppress:
    """A suppression was added."""

    item: Suppression


@dataclass(frozen=True)
class Unsuppress:
    """A suppression was lifted."""

    suppression_id: str


@dataclass(frozen=True)
class FalsePositive:
    """An analyst marked a principal's alert of these rules false positive."""

    principal: str
    rules: tuple[str, ...]


@dataclass(frozen=True)
class LoadModel:
    """A new model was saved: load the current one from the model folder."""


Control = SetStatus | Observe | Suppress | Unsuppress | FalsePositive | LoadModel


@dataclass(frozen=True)
class Batch:
    """Controls to apply in order, then bus record values to detect on (either may be empty);
    `replayed` values go through the engine first, for its state only (Record.replay)."""

    values: list[bytes]
    controls: list[Control] = field(default_factory=list)
    replayed: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class Stop:
    """Finish: the supervisor has what it needs."""


@dataclass(frozen=True)
class ModelInfo:
    """The child's current model, as the detector status reports it."""

    version: str
    trained_at_ms: int
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Progress:
    """The child's engine after a message: the detector status's numbers."""

    events_seen: int
    watermark_ms: int
    open_incidents: int
    undecodable: int
    model: ModelInfo | None


@dataclass(frozen=True)
class Ready:
    """The child has built its engine and waits for batches."""

    pid: int
    progress: Progress


@dataclass(frozen=True)
class Result:
    """What one Batch changed: alerts (in order), and state the API process mirrors -- the
    principals' live scores and actor kinds, and suppression hits since the last Result."""

    changes: list[tuple[str, Alert]]
    progress: Progress
    scores: dict[str, float]
    kinds: dict[str, str]
    hits: dict[str, int]
