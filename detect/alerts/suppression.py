"""Alert suppressions (principal / action / resource / rule globs, with expiry) and FP feedback.

A SuppressionBook is one of `Services.suppressors` (detect.services): the engine asks it
about each Finding before opening or updating an alert. Action and resource patterns are checked
against the finding's events (remembered by EventMemo as they stream past, else read from the
store); a finding suppresses only when every one of its events matches, so one suppression for
test-bucket deletes never hides a DeleteDBInstance in the same burst.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from detect.alerts.alert import Alert
from detect.findings import Finding
from ingest import schema
from ingest.events import AuditEvent
from ingest.store import Store

__all__ = [
    "EventMemo",
    "Suppression",
    "SuppressionBook",
    "false_positive_event_ids",
    "record_false_positive",
]

COLUMNS = (
    "suppression_id",
    "created_at",
    "expires_at",
    "principal_pattern",
    "action_pattern",
    "resource_pattern",
    "rule_pattern",
    "reason",
    "created_by",
    "alert_id",
    "active",
    "version",
)
FEEDBACK_COLUMNS = (
    "feedback_id",
    "created_at",
    "alert_id",
    "principal",
    "rule",
    "verdict",
    "event_ids",
    "note",
    "actor",
    "suppression_id",
)
MEMO_EVENTS = 200_000  # events remembered for suppression matching
_GLOB = frozenset("*?[")
EventFacts = tuple[str, str, tuple[str, ...]]  # source, action, resources


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass(frozen=True)
class Suppression:
    """Patterns are fnmatch globs ("*" = any); expires_at_ms 0 means never.

    An event matches when its action matches (`DeleteObject` or `s3:DeleteObject`) and one of
    its resources matches the resource pattern.
    """

    id: str
    created_at_ms: int
    expires_at_ms: int
    principal: str = "*"
    action: str = "*"
    resource: str = "*"
    rule: str = "*"
    reason: str = ""
    created_by: str = ""
    alert_id: str = ""
    active: bool = True

    def row(self) -> tuple[object, ...]:
        return (
            self.id,
            _dt(self.created_at_ms),
            _dt(self.expires_at_ms),
            self.principal,
            self.action,
            self.resource,
            self.rule,
            self.reason,
            self.created_by,
            self.alert_id,
            int(self.active),
            time.time_ns(),
        )

    def live(self, now_ms: int) -> bool:
        return self.active and (self.expires_at_ms == 0 or self.expires_at_ms > now_ms)

    def needs_events(self) -> bool:
        return self.action != "*" or self.resource != "*"

    def event_matches(self, facts: EventFacts) -> bool:
        source, action, resources = facts
        service = source.removesuffix(".amazonaws.com")
        names = (action, f"{service}:{action}")
        if not any(fnmatchcase(name, self.action) for name in names):
            return False
        if self.resource == "*":
            return True
        # Any: CloudTrail lists sub-resources too (bucket and object key), so "test-*" must
        # cover DeleteObject in bucket test-1 whatever the key.
        return any(fnmatchcase(r, self.resource) for r in resources)

    def to_json(self, hits: int = 0) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": _dt(self.created_at_ms).isoformat(),
            "expires_at": _dt(self.expires_at_ms).isoformat() if self.expires_at_ms else None,
            "principal": self.principal,
            "action": self.action,
            "resource": self.resource,
            "rule": self.rule,
            "reason": self.reason,
            "created_by": self.created_by,
            "alert_id": self.alert_id or None,
            "active": self.active,
            "hits": hits,
        }


class EventMemo:
    """A no-op Rule that remembers each event's (source, action, resources) for suppressions."""

    name = "response:event_memo"

    def __init__(self, capacity: int = MEMO_EVENTS) -> None:
        self._facts: OrderedDict[str, EventFacts] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def evaluate(self, event: AuditEvent) -> Finding | None:
        with self._lock:
            self._facts[event.event_id] = (event.source, event.action, event.resources)
            if len(self._facts) > self._capacity:
                self._facts.popitem(last=False)
        return None

    def get(self, event_id: str) -> EventFacts | None:
        with self._lock:
            return self._facts.get(event_id)


class SuppressionBook:
    """Live suppressions in memory, written through; callable as a suppressor."""

    def __init__(
        self,
        store: Store,
        *,
        key_of: Callable[[str], str],
        memo: EventMemo,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._key_of = key_of
        self._memo = memo
        self._clock = clock
        self._items: dict[str, Suppression] = {}
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def load(self) -> int:
        rows = self._store.query(
            f"SELECT {', '.join(COLUMNS[:-1])} FROM {schema.SUPPRESSIONS} FINAL WHERE active = 1"
        )
        with self._lock:
            for r in rows:
                text = [str(v) for v in r]
                self._items[text[0]] = Suppression(
                    text[0],
                    int(r[1].timestamp() * 1000),
                    int(r[2].timestamp() * 1000),
                    principal=text[3],
                    action=text[4],
                    resource=text[5],
                    rule=text[6],
                    reason=text[7],
                    created_by=text[8],
                    alert_id=text[9],
                )
        return len(rows)

    def add(
        self,
        *,
        principal: str = "*",
        action: str = "*",
        resource: str = "*",
        rule: str = "*",
        reason: str,
        created_by: str,
        expires_in_s: float | None = None,
        alert_id: str = "",
    ) -> Suppression:
        now = self.now_ms()
        if principal != "*" and not _GLOB & set(principal):
            principal = self._key_of(principal)  # an exact ARN suppresses its stable identity
        item = Suppression(
            f"sup_{uuid.uuid4().hex[:16]}",
            now,
            now + int(expires_in_s * 1000) if expires_in_s else 0,
            principal,
            action,
            resource,
            rule,
            reason,
            created_by,
            alert_id,
        )
        self._store.insert(schema.SUPPRESSIONS, [item.row()], COLUMNS)
        with self._lock:
            self._items[item.id] = item
        return item

    def remove(self, suppression_id: str) -> bool:
        with self._lock:
            item = self._items.pop(suppression_id, None)
        if item is None:
            return False
        self._store.insert(schema.SUPPRESSIONS, [replace(item, active=False).row()], COLUMNS)
        return True

    def entries(self) -> list[tuple[Suppression, int]]:
        now = self.now_ms()
        with self._lock:
            return [(s, self.hits.get(s.id, 0)) for s in self._items.values() if s.live(now)]

    def __call__(self, finding: Finding) -> bool:
        """True (suppress) when a live suppression covers the finding and all its events."""
        now = self.now_ms()
        with self._lock:
            candidates = [
                s
                for s in self._items.values()
                if s.live(now)
                and fnmatchcase(finding.principal, s.principal)
                and fnmatchcase(finding.rule, s.rule)
            ]
        for item in candidates:
            if item.needs_events() and not self._events_match(item, finding.event_ids):
                continue
            with self._lock:
                self.hits[item.id] = self.hits.get(item.id, 0) + 1
            return True
        return False

    def _events_match(self, item: Suppression, event_ids: Sequence[str]) -> bool:
        facts: list[EventFacts | None] = [self._memo.get(e) for e in event_ids]
        missing = [e for e, f in zip(event_ids, facts, strict=True) if f is None]
        if missing:
            facts = [f for f in facts if f is not None]
            facts.extend(self._read_facts(missing))
        # An event we cannot see could be anything: never suppress on a guess.
        return len(facts) == len(event_ids) and all(
            f is not None and item.event_matches(f) for f in facts
        )

    def _read_facts(self, event_ids: Sequence[str]) -> list[EventFacts | None]:
        # One scalar parameter per id: array parameters are not bound alike on every backend.
        params = {f"e{i}": event_id for i, event_id in enumerate(event_ids)}
        holes = ", ".join(f"{{{name}:String}}" for name in params)
        rows = self._store.query(
            f"SELECT event_id, source, action, resources FROM {schema.EVENTS} "
            f"WHERE event_id IN ({holes})",
            params,
        )
        found = {str(r[0]): (str(r[1]), str(r[2]), tuple(r[3])) for r in rows}
        return [found.get(e) for e in event_ids]


def record_false_positive(
    store: Store,
    alert: Alert,
    *,
    event_ids: Sequence[str],
    actor: str,
    note: str = "",
    suppression_id: str = "",
) -> str:
    """Store analyst feedback that `alert` was a false positive; returns the feedback id."""
    feedback_id = f"fb_{uuid.uuid4().hex[:16]}"
    row = (
        feedback_id,
        datetime.now(UTC),
        alert.id,
        alert.principal,
        alert.rule,
        "false_positive",
        list(event_ids),
        note,
        actor,
        suppression_id,
    )
    store.insert(schema.ALERT_FEEDBACK, [row], FEEDBACK_COLUMNS)
    return feedback_id


def false_positive_event_ids(store: Store) -> set[str]:
    """Event ids of alerts marked false positive (for training: exclude or use as labels)."""
    rows = store.query(
        f"SELECT DISTINCT arrayJoin(event_ids) FROM {schema.ALERT_FEEDBACK} "
        "WHERE verdict = 'false_positive'"
    )
    return {str(r[0]) for r in rows}
