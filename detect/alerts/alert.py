"""Alert (one per principal and incident) and AlertStore, its table: import these for alerts."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import orjson

from detect.findings import SEVERITIES
from ingest import schema
from ingest.events import event_time_iso
from ingest.store import Store

__all__ = [
    "ALERT_EVENTS",
    "ALERT_STATUSES",
    "Alert",
    "AlertStatus",
    "AlertListener",
    "AlertStore",
    "alert_id",
    "notify_listeners",
    "principals_of",
]

logger = logging.getLogger(__name__)

AlertStatus = Literal["open", "acknowledged", "resolved"]
ALERT_STATUSES: tuple[str, ...] = get_args(AlertStatus)
ALERT_EVENTS = ("alert.opened", "alert.updated", "alert.acknowledged", "alert.resolved")
MAX_ALERT_EVENT_IDS = 1000  # ids stored on an alert; event_count keeps counting beyond
MAX_LIST_LIMIT = 1000  # alerts per list call


@dataclass(frozen=True)
class Alert:
    """One incident of one principal, as stored and served by the API (`to_json`)."""

    id: str
    created_at_ms: int
    updated_at_ms: int
    principal: str
    actor_kind: str
    kind: str
    rule: str
    severity: str
    score: float
    status: str
    first_event_ms: int
    last_event_ms: int
    event_count: int
    event_ids: tuple[str, ...]
    summary: str
    explanation: Mapping[str, Any] = field(default_factory=dict)
    rules: tuple[str, ...] = ()
    status_actor: str = ""
    status_note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": event_time_iso(self.created_at_ms),
            "updated_at": event_time_iso(self.updated_at_ms),
            "principal": self.principal,
            "actor_kind": self.actor_kind,
            "kind": self.kind,
            "rule": self.rule,
            "rules": list(self.rules),
            "severity": self.severity,
            "score": self.score,
            "status": self.status,
            "first_event_time": event_time_iso(self.first_event_ms),
            "last_event_time": event_time_iso(self.last_event_ms),
            "event_count": self.event_count,
            "event_ids": list(self.event_ids),
            "summary": self.summary,
            "explanation": dict(self.explanation),
            "status_by": self.status_actor,
            "status_note": self.status_note,
        }


AlertListener = Callable[[str, Alert], None]


def notify_listeners(listeners: Iterable[AlertListener], event_type: str, alert: Alert) -> None:
    """Call every listener; one failing listener is logged and never stops the others."""
    for listener in list(listeners):
        try:
            listener(event_type, alert)
        except Exception:  # noqa: BLE001 - a sink's failure must not stall detection
            logger.exception("alert listener %r failed on %s %s", listener, event_type, alert.id)


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def principals_of(alert: Alert) -> list[str]:
    """The principals an alert holds: the one that opened it, then the other sessions of its
    actor it names (`explanation.principals`: detect.alerts.incidents)."""
    named = alert.explanation.get("principals")
    return list(
        dict.fromkeys([alert.principal, *map(str, named if isinstance(named, list) else ())])
    )


def alert_id(principal: str, first_event_id: str) -> str:
    """Deterministic, so a replay after a crash rewrites the same alert instead of a second one."""
    return "al_" + hashlib.sha256(f"{principal}\x00{first_event_id}".encode()).hexdigest()[:24]


_COLUMNS = (
    "id",
    "version",
    "created_at",
    "updated_at",
    "principal",
    "actor_kind",
    "kind",
    "rule",
    "rules",
    "severity",
    "score",
    "first_event_time",
    "last_event_time",
    "event_count",
    "event_ids",
    "summary",
    "explanation",
)
_SELECT = f"""
SELECT a.id, toUnixTimestamp64Milli(a.created_at), toUnixTimestamp64Milli(a.updated_at),
    a.principal, a.actor_kind, a.kind, a.rule, a.severity, a.score,
    if(s.id = '', 'open', s.status) AS status,
    toUnixTimestamp64Milli(a.first_event_time), toUnixTimestamp64Milli(a.last_event_time),
    a.event_count, a.event_ids, a.summary, a.explanation, a.rules, s.actor, s.note
FROM {schema.ALERTS} AS a FINAL
LEFT JOIN (SELECT id, status, actor, note FROM {schema.ALERT_STATUS} FINAL) AS s ON a.id = s.id"""


_Alerts = list[Alert]  # the method named `list` shadows the builtin inside AlertStore


def _ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def _from_row(row: Sequence[Any]) -> Alert:
    return Alert(
        id=row[0],
        created_at_ms=int(row[1]),
        updated_at_ms=int(row[2]),
        principal=row[3],
        actor_kind=row[4],
        kind=row[5],
        rule=row[6],
        severity=row[7],
        score=float(row[8]),
        status=row[9],
        first_event_ms=int(row[10]),
        last_event_ms=int(row[11]),
        event_count=int(row[12]),
        event_ids=tuple(row[13]),
        summary=row[14],
        explanation=orjson.loads(row[15]) if row[15] else {},
        rules=tuple(row[16]),
        status_actor=row[17] or "",
        status_note=row[18] or "",
    )


class AlertStore:
    """Alerts in the store: the detector writes content (`save`), people change `status`.

    Both tables are ReplacingMergeTree(version) read with FINAL; the status sits in its own table
    so an acknowledgement never races an update of the alert's content by the detector.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def save(self, alerts: Sequence[Alert]) -> None:
        """Insert the current content of each alert (one insert for all of them)."""
        if not alerts:
            return
        base = time.time_ns()
        rows = [
            (
                a.id,
                base + i,
                _ms(a.created_at_ms),
                _ms(a.updated_at_ms),
                a.principal,
                a.actor_kind,
                a.kind,
                a.rule,
                list(a.rules),
                a.severity,
                float(a.score),
                _ms(a.first_event_ms),
                _ms(a.last_event_ms),
                a.event_count,
                list(a.event_ids),
                a.summary,
                orjson.dumps(dict(a.explanation)).decode(),
            )
            for i, a in enumerate(alerts)
        ]
        self._store.insert(schema.ALERTS, rows, _COLUMNS)

    def get(self, id: str) -> Alert | None:  # noqa: A002 - the interface's published name
        rows = self._store.query(f"{_SELECT} WHERE a.id = {{id:String}}", {"id": id})
        return _from_row(rows[0]) if rows else None

    def list(
        self,
        *,
        status: str | None = None,
        principal: str | None = None,
        since: datetime | int | None = None,
        limit: int = 100,
        after: tuple[int, str] | None = None,
    ) -> _Alerts:
        """Alerts newest first, ties by id; `since` (datetime or epoch ms) filters on the last
        event time; `after` (created_at ms, id) starts after that alert (keyset paging)."""
        clauses = ["1"]
        # one beyond a full page is allowed: it tells the API that another page follows
        params: dict[str, Any] = {"limit": max(1, min(limit, MAX_LIST_LIMIT + 1))}
        if status:
            clauses.append("status = {status:String}")
            params["status"] = status
        if principal:
            clauses.append("a.principal = {principal:String}")
            params["principal"] = principal
        if since is not None:
            ms = since if isinstance(since, int) else int(since.timestamp() * 1000)
            clauses.append("a.last_event_time >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')")
            params["since"] = ms
        if after is not None:  # created_at never changes as an alert grows: a stable key
            clauses.append(
                "(a.created_at < fromUnixTimestamp64Milli({after_ms:Int64}, 'UTC')"
                " OR (a.created_at = fromUnixTimestamp64Milli({after_ms:Int64}, 'UTC')"
                " AND a.id > {after_id:String}))"
            )
            params.update(after_ms=after[0], after_id=after[1])
        sql = (
            f"{_SELECT} WHERE {' AND '.join(clauses)} "
            "ORDER BY a.created_at DESC, a.id LIMIT {limit:UInt32}"
        )
        return [_from_row(r) for r in self._store.query(sql, params)]

    def set_status(self, id: str, status: str, *, actor: str, note: str = "") -> Alert | None:  # noqa: A002
        """Record a status change; returns the alert as it now reads, None if it does not exist."""
        if status not in ALERT_STATUSES:
            raise ValueError(f"unknown alert status {status!r}; use one of {ALERT_STATUSES}")
        if self.get(id) is None:
            return None
        self._store.insert(
            schema.ALERT_STATUS,
            [(id, time.time_ns(), status, actor, note, datetime.now(UTC))],
            ["id", "version", "status", "actor", "note", "changed_at"],
        )
        return self.get(id)

    def statuses(self, ids: Sequence[str]) -> dict[str, str]:
        """Status of each given alert id that has a recorded change."""
        if not ids:
            return {}
        rows = self._store.query(  # ids are "al_" + hex, so a comma list is unambiguous
            f"SELECT id, status FROM {schema.ALERT_STATUS} FINAL "
            "WHERE has(splitByChar(',', {ids:String}), id)",
            {"ids": ",".join(ids)},
        )
        return {str(r[0]): str(r[1]) for r in rows}

    def open_incidents(self, *, since_ms: int) -> _Alerts:
        """Unresolved alerts whose last event is at or after since_ms: the newest per principal."""
        sql = (
            f"{_SELECT} WHERE status != 'resolved' AND a.last_event_time >= "
            "fromUnixTimestamp64Milli({since:Int64}, 'UTC') "
            "ORDER BY a.last_event_time DESC LIMIT 1 BY a.principal"
        )
        return [_from_row(r) for r in self._store.query(sql, {"since": since_ms})]
