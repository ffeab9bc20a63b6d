"""Untrusted evidence: which spans of a principal's event time hold events from origins that
automatic response may not act on (a push by an ingest key anyone could have forged with).

An alert whose span overlaps such events still pages, but carries `explanation["untrusted"]`
and is never acted on automatically (detect.response.principals.auto_response_listener).
The judgement is by span, not by event id: it errs towards not acting, never towards acting.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field, replace

from detect.alerts.alert import Alert
from ingest.events import AuditEvent

__all__ = ["UNTRUSTED", "UntrustedSpans"]

UNTRUSTED = "untrusted"  # the explanation key of a tainted alert
MERGE_MS = 30 * 60_000  # untrusted events this close together form one span
MAX_SPANS = 64  # per principal; older spans fall off (their alerts have long been judged)
MAX_ORIGINS = 8  # origins named per span


@dataclass
class _Span:
    first_ms: int
    last_ms: int
    origins: dict[str, int] = field(default_factory=dict)


class UntrustedSpans:
    """Per principal, the merged event-time spans of its untrusted events."""

    def __init__(self) -> None:
        self._spans: dict[str, deque[_Span]] = {}

    def __len__(self) -> int:
        return len(self._spans)

    def observe(self, event: AuditEvent, principal_key: str | None = None) -> None:
        """Remember an untrusted event (trusted ones cost a flag check) under its principal, or
        under `principal_key` (the principal a CloudFormation call served)."""
        if event.trusted:
            return
        spans = self._spans.setdefault(principal_key or event.principal_key, deque())
        at = event.event_time_ms
        span = next(
            (s for s in reversed(spans) if s.first_ms - MERGE_MS <= at <= s.last_ms + MERGE_MS),
            None,
        )
        if span is None:
            span = _Span(at, at)
            spans.append(span)
            if len(spans) > MAX_SPANS:
                spans.popleft()
        span.first_ms, span.last_ms = min(span.first_ms, at), max(span.last_ms, at)
        if event.origin in span.origins or len(span.origins) < MAX_ORIGINS:
            span.origins[event.origin] = span.origins.get(event.origin, 0) + 1

    def forget(self, principal_key: str) -> None:
        self._spans.pop(principal_key, None)

    def stamp(self, alert: Alert) -> Alert:
        """The alert, marked when untrusted events of its principal fall within its span."""
        overlapping = [
            s
            for s in self._spans.get(alert.principal, ())
            if s.first_ms <= alert.last_event_ms and s.last_ms >= alert.first_event_ms
        ]
        if not overlapping:
            return alert
        origins: Counter[str] = Counter()
        for span in overlapping:
            origins.update(span.origins)
        names = ", ".join(sorted(origins))
        untrusted = {
            "origins": dict(origins),
            "note": (
                f"events of this principal in the alert's span arrived from {names}, not "
                "trusted for automatic response: this alert pages but does not quarantine or "
                "revoke. Check the events' origin, then act by hand, or trust the key "
                "(LEASH_TRUSTED_KEYS, or trusted: true in the keys file)"
            ),
        }
        return replace(alert, explanation={**alert.explanation, UNTRUSTED: untrusted})
