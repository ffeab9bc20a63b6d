"""Principal states (active, quarantined, revoked; restore): in memory, written through, audited."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from detect.alerts.alert import Alert, principals_of
from detect.alerts.provenance import UNTRUSTED
from ingest import schema
from ingest.store import Store

__all__ = [
    "STATES",
    "PrincipalChange",
    "PrincipalRegistry",
    "PrincipalStatus",
    "TransitionError",
    "auto_response_listener",
]

logger = logging.getLogger(__name__)

STATES = ("active", "quarantined", "revoked")
TARGET = {"quarantine": "quarantined", "revoke": "revoked", "restore": "active"}
ALLOWED_FROM = {
    "quarantined": ("active",),
    "revoked": ("active", "quarantined"),
    "active": ("quarantined", "revoked"),
}
AUTO_KINDS = ("agent", "service")  # humans share SSO roles: auto-quarantine would block everyone
COLUMNS = (
    "change_id",
    "changed_at",
    "principal_key",
    "principal",
    "actor_kind",
    "from_state",
    "to_state",
    "reason",
    "actor",
    "origin",
    "alert_id",
)


class TransitionError(ValueError):
    """The requested change is not allowed from the principal's current state."""


@dataclass(frozen=True)
class PrincipalChange:
    """One state change, as stored in principal_changes and sent as a principal.* webhook."""

    change_id: str
    changed_at_ms: int
    principal_key: str
    principal: str
    actor_kind: str
    from_state: str
    to_state: str
    reason: str
    actor: str
    origin: str = "api"
    alert_id: str = ""

    def row(self) -> tuple[object, ...]:
        at = datetime.fromtimestamp(self.changed_at_ms / 1000, tz=UTC)
        return (
            self.change_id,
            at,
            self.principal_key,
            self.principal,
            self.actor_kind,
            self.from_state,
            self.to_state,
            self.reason,
            self.actor,
            self.origin,
            self.alert_id,
        )

    def to_json(self) -> dict[str, Any]:
        at = datetime.fromtimestamp(self.changed_at_ms / 1000, tz=UTC)
        return {
            "change_id": self.change_id,
            "changed_at": at.isoformat(timespec="milliseconds"),
            "principal": self.principal,
            "principal_key": self.principal_key,
            "actor_kind": self.actor_kind,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "reason": self.reason,
            "actor": self.actor,
            "origin": self.origin,
            "alert_id": self.alert_id,
        }


def _from_row(r: tuple[Any, ...]) -> PrincipalChange:
    return PrincipalChange(str(r[0]), int(r[1].timestamp() * 1000), *(str(v) for v in r[2:11]))


PrincipalStatus = PrincipalChange  # a principal's status is its latest change


class PrincipalRegistry:
    """Current state of every principal that ever left `active`, keyed by the stable key.

    Reads (`state`) are dict lookups for the decide hot path. `change` writes the audit row to
    the store first, then updates memory, then calls listeners (webhooks, revokers). `refresh`
    picks up changes written by another process (compose: the detect worker auto-quarantines).
    """

    def __init__(
        self, store: Store, *, key_of: Callable[[str], str], clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self.key_of = key_of
        self._clock = clock
        self._latest: dict[str, PrincipalChange] = {}
        self._lock = threading.Lock()
        self._seen_ms = 0
        self.listeners: list[Callable[[PrincipalChange], None]] = []

    def load(self) -> int:
        """Read the latest change per principal (and, later, only newer ones)."""
        rows = self._store.query(
            f"SELECT {', '.join(COLUMNS)} FROM {schema.PRINCIPAL_CHANGES} "
            "WHERE changed_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') "
            "ORDER BY changed_at, change_id",
            {"since": max(self._seen_ms - 1, 0)},
        )
        with self._lock:
            for change in map(_from_row, rows):
                current = self._latest.get(change.principal_key)
                if current is None or current.changed_at_ms <= change.changed_at_ms:
                    self._latest[change.principal_key] = change
                self._seen_ms = max(self._seen_ms, change.changed_at_ms)
        return len(rows)

    refresh = load

    def state(self, principal_key: str) -> str:
        found = self._latest.get(principal_key)
        return found.to_state if found else "active"

    def get(self, principal_key: str) -> PrincipalStatus | None:
        return self._latest.get(principal_key)

    def non_active(self) -> list[PrincipalStatus]:
        with self._lock:
            return [c for c in self._latest.values() if c.to_state != "active"]

    def change(
        self,
        principal: str,
        action: str,
        *,
        reason: str,
        actor: str,
        actor_kind: str = "",
        origin: str = "api",
        alert_id: str = "",
    ) -> PrincipalChange | None:
        """Apply quarantine / revoke / restore; None when the principal is already there.

        Raises TransitionError for a downgrade (revoked -> quarantined).
        """
        to_state = TARGET[action]
        key = self.key_of(principal)
        with self._lock:
            previous = self._latest.get(key)
            from_state = previous.to_state if previous else "active"
            if from_state == to_state:
                return None
            if from_state not in ALLOWED_FROM[to_state]:
                raise TransitionError(f"cannot {action} a principal that is {from_state}")
            change = PrincipalChange(
                f"chg_{uuid.uuid4().hex}",
                int(self._clock() * 1000),
                key,
                principal,
                actor_kind or (previous.actor_kind if previous else ""),
                from_state,
                to_state,
                reason,
                actor,
                origin,
                alert_id,
            )
            self._store.insert(schema.PRINCIPAL_CHANGES, [change.row()], COLUMNS)
            self._latest[key] = change
        logger.warning(
            "principal %s: %s -> %s by %s (%s)", key, from_state, to_state, actor, reason
        )
        for listener in list(self.listeners):
            try:
                listener(change)
            except Exception:  # noqa: BLE001 - one failing listener must not undo the change
                logger.exception("principal change listener failed")
        return change

    def history(self, principal_key: str, limit: int = 100) -> list[PrincipalChange]:
        rows = self._store.query(
            f"SELECT {', '.join(COLUMNS)} FROM {schema.PRINCIPAL_CHANGES} "
            "WHERE principal_key = {k:String} ORDER BY changed_at DESC, change_id LIMIT {n:UInt32}",
            {"k": principal_key, "n": limit},
        )
        return [_from_row(r) for r in rows]


def auto_response_listener(
    registry: PrincipalRegistry, *, quarantine: bool, revoke: bool
) -> Callable[[str, Alert], None]:
    """An alert listener: a critical alert on an agent (or service) quarantines, or revokes, it."""

    def on_alert(event_type: str, alert: Alert) -> None:
        if event_type not in ("alert.opened", "alert.updated") or alert.severity != "critical":
            return
        if alert.actor_kind not in AUTO_KINDS or not (quarantine or revoke):
            return
        if alert.principal.endswith(".amazonaws.com") or alert.principal == "aws-service":
            return  # AWS acting on its own (invokedBy): nothing of ours to quarantine
        if UNTRUSTED in alert.explanation:
            logger.info(
                "alert %s on %s is not acted on automatically: %s",
                alert.id,
                alert.principal,
                alert.explanation[UNTRUSTED]["note"],
            )
            return  # a push any ingest key holder could have forged pages, but never acts
        action = "revoke" if revoke else "quarantine"
        # every session the incident holds: an AI agent that went on from a second session is
        # in the same alert (detect.alerts.incidents.incident_key), and quarantine is per key
        for principal in principals_of(alert):
            if registry.state(registry.key_of(principal)) in ("revoked", TARGET[action]):
                continue
            registry.change(
                principal,
                action,
                reason=f"critical alert: {alert.summary}",
                actor="leash:auto",
                actor_kind=alert.actor_kind,
                origin="auto",
                alert_id=alert.id,
            )

    return on_alert
