"""Case: a finding with what triage may consult (its event and its principal's state)."""

from __future__ import annotations

from dataclasses import dataclass

from detect.features import PrincipalState
from detect.findings import Finding
from ingest.events import AuditEvent

__all__ = ["Case"]


@dataclass(frozen=True, init=False)
class Case:
    """A finding with what triage may consult: the event that raised it and its principal."""

    finding: Finding
    event: AuditEvent
    state: PrincipalState
    routine: bool  # the (established) principal performs this action anyway

    def __init__(
        self, finding: Finding, event: AuditEvent, state: PrincipalState, routine: bool
    ) -> None:
        # the generated __init__ without object.__setattr__ per field: one Case per finding
        # triaged (detect.findings.Finding's own __init__ says why)
        attrs = self.__dict__
        attrs["finding"] = finding
        attrs["event"] = event
        attrs["state"] = state
        attrs["routine"] = routine
