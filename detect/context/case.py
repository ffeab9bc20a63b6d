"""Case: a finding with what triage may consult (its event and its principal's state)."""

from __future__ import annotations

from detect.features import PrincipalState
from detect.findings import Finding, frozen_record
from ingest.events import AuditEvent

__all__ = ["Case"]


@frozen_record
class Case:
    """A finding with what triage may consult: the event that raised it and its principal."""

    finding: Finding
    event: AuditEvent
    state: PrincipalState
    routine: bool  # the (established) principal performs this action anyway
