"""Context for findings: what the organisation and the principal make of an event (triage)."""

from detect.context.triage import Triage

__all__ = ["Triage"]
