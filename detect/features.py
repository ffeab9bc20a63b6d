"""Per-principal event-time window features: one incremental state used by streaming and training.

Time is cut into minute buckets per principal. The 1-minute window is the current bucket, the
10-minute window the last ten buckets, and a 6-hour ring of 10-minute slots keeps slow destructive
counts. Streaming feeds events into `PrincipalState.observe`; training feeds complete buckets built
in SQL (`detect.model_store.load_history`) into `PrincipalState.push_bucket`. Both end in the same
`features()` code, so a streamed event's row equals the training row of its minute once that
minute is complete.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ingest.events import AuditEvent

__all__ = [
    "CREATE_ACTION_RE",
    "ESTABLISHED_EVENTS",
    "FEATURE_NAMES",
    "FIRST_SEEN_PROD_DESTRUCTIVE",
    "FIRST_SEEN_SENSITIVE",
    "PROD_RESOURCE_RE",
    "Bucket",
    "PrincipalProfile",
    "PrincipalState",
    "build_features",
    "is_offhours",
    "resource_name",
]

BUCKET_MS = 60_000  # one bucket = one event-time minute
WINDOW_BUCKETS = 10  # minutes in the long window
SLOW_SLOT_MS = 600_000  # 10-minute slots for the slow (6 h) destructive count
SLOW_SLOTS = 36  # 36 x 10 min = 6 hours
MAX_BUCKET_NAMES = 256  # resource names kept per bucket (distinct count and churn)
MAX_BUCKET_IDS = 256  # event ids kept per bucket and class (finding evidence)
MAX_SLOW_IDS = 32  # destructive event ids kept per 10-minute slot of the 6-hour window
MAX_SEEN = 2048  # values remembered per principal and dimension (first-seen features)
ESTABLISHED_EVENTS = 200  # history events before first-seen and rate features count
WORK_HOURS_UTC = (7, 19)  # [start, end) hours; outside them, or at weekends, is off-hours
SEEN_DIMENSIONS = ("action", "service", "region", "ip", "destructive", "sensitive", "prod")
FIRST_SEEN_PROD_DESTRUCTIVE = 1  # observe() flag: first time this action hits a prod-like name
FIRST_SEEN_SENSITIVE = 2  # observe() flag: a never-seen privilege or defense-evasion action

CREATE_ACTION_RE = r"^(Create|Run|Launch|Register|Restore|Import|Allocate)"
PROD_RESOURCE_RE = r"(?i)(^|[^a-z])(prod|production|prd|live)([^a-z]|$)"
_CREATE = re.compile(CREATE_ACTION_RE)
_PROD = re.compile(PROD_RESOURCE_RE)
_NAME_PREFIX = re.compile(r"^.*[/:]")

FEATURE_NAMES: tuple[str, ...] = (  # fixed column order of every feature row
    "events_1m", "events_10m", "destructive_1m", "destructive_10m", "destructive_6h",
    "privilege_10m", "evasion_10m", "distinct_resources_10m", "delete_create_ratio_10m",
    "churn_10m", "error_rate_10m", "new_actions_10m", "new_services_10m", "new_regions_10m",
    "new_ips_10m", "new_sensitive_10m", "offhours_share_10m", "offhours_surprise_10m",
    "rate_ratio_1m", "destructive_ratio_10m", "write_share_10m", "distinct_regions_10m",
)


def resource_name(resource: str) -> str:
    """Last path segment of an ARN or path: the name a delete and a recreate share."""
    return _NAME_PREFIX.sub("", resource)


def is_offhours(event_time_ms: int) -> bool:
    """Outside WORK_HOURS_UTC on a weekday, or any time on Saturday/Sunday (UTC)."""
    hour = (event_time_ms // 3_600_000) % 24
    weekday = (event_time_ms // 86_400_000 + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return weekday >= 5 or not WORK_HOURS_UTC[0] <= hour < WORK_HOURS_UTC[1]


@dataclass(slots=True)
class Bucket:
    """Counts of one principal's events in one event-time minute (`minute` = epoch ms // 60000)."""

    minute: int
    n: int = 0
    destructive: int = 0
    privilege: int = 0
    evasion: int = 0
    writes: int = 0
    errors: int = 0
    offhours: int = 0
    creates: int = 0
    prod_destructive: int = 0
    new_action: int = 0
    new_service: int = 0
    new_region: int = 0
    new_ip: int = 0
    new_destructive: int = 0
    new_sensitive: int = 0
    resources: set[str] = field(default_factory=set)
    regions: set[str] = field(default_factory=set)
    churn: dict[str, list[int]] = field(default_factory=dict)  # name -> [first delete, last create]
    destructive_ids: list[str] = field(default_factory=list)
    sensitive_ids: list[str] = field(default_factory=list)

    def add_churn(self, name: str, *, delete_ms: int, create_ms: int) -> None:
        """Merge a name's first delete / last create time (0 = none) into the bucket."""
        slot = self.churn.get(name)
        if slot is None:
            if len(self.churn) < MAX_BUCKET_NAMES:
                self.churn[name] = [delete_ms, create_ms]
            return
        if delete_ms and (not slot[0] or delete_ms < slot[0]):
            slot[0] = delete_ms
        slot[1] = max(slot[1], create_ms)


@dataclass(frozen=True)
class PrincipalProfile:
    """What training learned about one principal: history counters, seen values, usual/high values.

    `usual` maps feature name -> median over the principal's training windows (the "baseline"
    shown beside the current value in explanations); `high` maps feature name -> its high quantile
    (used by the baseline detectors).
    """

    key: str
    actor_kind: str
    events: int
    minutes: int
    offhours: int
    destructive: int
    seen: Mapping[str, tuple[str, ...]]
    usual: Mapping[str, float]
    high: Mapping[str, float]


class PrincipalState:
    """One principal's rolling windows and history; bounded memory, event-time driven."""

    def __init__(self, key: str, actor_kind: str, profile: PrincipalProfile | None = None) -> None:
        self.key = key
        self.actor_kind = profile.actor_kind if profile else actor_kind
        self.buckets: deque[Bucket] = deque()
        self.slow: deque[list[Any]] = deque()  # [slot, destructive count, event ids]
        self.hist_events = profile.events if profile else 0
        self.hist_minutes = profile.minutes if profile else 0
        self.hist_offhours = profile.offhours if profile else 0
        self.hist_destructive = profile.destructive if profile else 0
        self.seen: dict[str, set[str]] = {d: set() for d in SEEN_DIMENSIONS}
        self.high: dict[str, float] = dict(profile.high) if profile else {}
        self.usual: dict[str, float] = dict(profile.usual) if profile else {}
        if profile:
            for dim, values in profile.seen.items():
                self.seen.setdefault(dim, set()).update(values)
        self.last_event_ms = 0

    # -- windows --------------------------------------------------------------------------------
    def _bucket_for(self, minute: int) -> Bucket | None:
        """The bucket of `minute`, rolling the window forward; None when older than the window."""
        if not self.buckets or minute > self.buckets[-1].minute:
            if self.buckets:
                self._close(self.buckets[-1])
            self.buckets.append(Bucket(minute))
            while self.buckets[0].minute <= minute - WINDOW_BUCKETS:
                self.buckets.popleft()
            return self.buckets[-1]
        for bucket in reversed(self.buckets):
            if bucket.minute == minute:
                return bucket
        if minute < self.buckets[-1].minute - SLOW_SLOTS * WINDOW_BUCKETS:
            # far in the past (a historical replay after newer events): restart the windows
            self.buckets.clear()
            self.slow.clear()
            self.buckets.append(Bucket(minute))
            return self.buckets[-1]
        return None

    def _close(self, bucket: Bucket) -> None:
        self.hist_events += bucket.n
        self.hist_minutes += 1
        self.hist_offhours += bucket.offhours
        self.hist_destructive += bucket.destructive

    def _add_slow(self, time_ms: int, destructive: int, event_id: str = "") -> None:
        slot = time_ms // SLOW_SLOT_MS
        if not self.slow or slot > self.slow[-1][0]:
            self.slow.append([slot, 0, []])
        if self.slow[-1][0] == slot:
            self.slow[-1][1] += destructive
            if event_id and len(self.slow[-1][2]) < MAX_SLOW_IDS:
                self.slow[-1][2].append(event_id)
        while self.slow and self.slow[0][0] <= slot - SLOW_SLOTS:
            self.slow.popleft()

    # -- input ----------------------------------------------------------------------------------
    def _first_seen(self, dim: str, value: str) -> bool:
        seen = self.seen[dim]
        if value in seen or len(seen) >= MAX_SEEN:
            return False  # beyond MAX_SEEN values novelty means nothing for this principal
        seen.add(value)
        return True

    def observe(self, event: AuditEvent) -> int:
        """Add one event; returns FIRST_SEEN_* flags (0 when nothing is new about it)."""
        self.last_event_ms = max(self.last_event_ms, event.event_time_ms)
        cls = event.action_class
        destructive = cls == "destructive"
        new_destructive = destructive and self._first_seen("destructive", event.action)
        new_sensitive = cls in ("privilege", "defense_evasion") and self._first_seen(
            "sensitive", event.action
        )
        flags = (
            self._first_seen("action", event.action), self._first_seen("service", event.source),
            self._first_seen("region", event.region), self._first_seen("ip", event.source_ip),
        )
        names = {resource_name(r) for r in event.resources}
        prod = destructive and any(_PROD.search(r) for r in event.resources)
        new_prod = prod and self._first_seen("prod", event.action)
        bucket = self._bucket_for(event.event_time_ms // BUCKET_MS)
        first_seen = (FIRST_SEEN_PROD_DESTRUCTIVE if new_prod else 0) | (
            FIRST_SEEN_SENSITIVE if new_sensitive else 0
        )
        if bucket is None:
            self.hist_events += 1
            return first_seen
        self._count(bucket, event, names, prod=prod)
        bucket.new_action += flags[0]
        bucket.new_service += flags[1]
        bucket.new_region += flags[2]
        bucket.new_ip += flags[3]
        bucket.new_destructive += new_destructive
        bucket.new_sensitive += new_sensitive
        if destructive:
            self._add_slow(event.event_time_ms, 1, event.event_id)
        return first_seen

    def _count(self, bucket: Bucket, event: AuditEvent, names: set[str], *, prod: bool) -> None:
        cls = event.action_class
        created = _CREATE.match(event.action) is not None
        bucket.n += 1
        bucket.writes += cls != "read"
        bucket.errors += event.error_code != ""
        bucket.offhours += is_offhours(event.event_time_ms)
        bucket.creates += created
        bucket.regions.add(event.region)
        if len(bucket.resources) < MAX_BUCKET_NAMES:
            bucket.resources.update(names)
        if cls == "destructive":
            bucket.destructive += 1
            bucket.prod_destructive += prod
            if len(bucket.destructive_ids) < MAX_BUCKET_IDS:
                bucket.destructive_ids.append(event.event_id)
        elif cls in ("privilege", "defense_evasion"):
            bucket.privilege += cls == "privilege"
            bucket.evasion += cls == "defense_evasion"
            if len(bucket.sensitive_ids) < MAX_BUCKET_IDS:
                bucket.sensitive_ids.append(event.event_id)
        if cls == "destructive" or created:
            t = event.event_time_ms
            for name in names:
                bucket.add_churn(name, delete_ms=t if cls == "destructive" else 0,
                                 create_ms=t if created else 0)

    def push_bucket(self, bucket: Bucket) -> None:
        """Add a complete bucket built elsewhere (training from SQL); minutes must ascend."""
        if self.buckets and bucket.minute <= self.buckets[-1].minute:
            raise ValueError(
                f"bucket minute {bucket.minute} does not follow {self.buckets[-1].minute}"
            )
        if self.buckets:
            self._close(self.buckets[-1])
        self.buckets.append(bucket)
        while self.buckets[0].minute <= bucket.minute - WINDOW_BUCKETS:
            self.buckets.popleft()
        if bucket.destructive:
            self._add_slow(bucket.minute * BUCKET_MS, bucket.destructive)
        self.last_event_ms = max(self.last_event_ms, bucket.minute * BUCKET_MS)

    def finish(self) -> None:
        """Fold the open bucket into history and empty the windows (end of a training replay)."""
        if self.buckets:
            self._close(self.buckets[-1])
        self.buckets.clear()
        self.slow.clear()

    # -- output ---------------------------------------------------------------------------------
    @property
    def established(self) -> bool:
        return self.hist_events >= ESTABLISHED_EVENTS

    def window_ids(self, kind: str) -> list[str]:
        """Event ids of the window's destructive ("destructive") or privilege/evasion events."""
        attr = "destructive_ids" if kind == "destructive" else "sensitive_ids"
        return [i for b in self.buckets for i in getattr(b, attr)]

    def slow_window(self) -> tuple[int, list[str]]:
        """Start (ms) and destructive event ids of the current 6-hour window (ids sampled)."""
        if not self.buckets:
            return 0, []
        slow_from = self.buckets[-1].minute * BUCKET_MS // SLOW_SLOT_MS - SLOW_SLOTS
        slots = [slot for slot in self.slow if slot[0] > slow_from and slot[1]]
        start = slots[0][0] * SLOW_SLOT_MS if slots else 0
        return start, [i for slot in slots for i in slot[2]]

    def features(self) -> list[float]:
        """The feature row of the current window, in FEATURE_NAMES order."""
        return _features(self)


def _window_churn(buckets: Iterable[Bucket]) -> int:
    """Names whose last create in the window comes after their first delete."""
    churn: dict[str, list[int]] = {}
    for b in buckets:
        for name, (d, c) in b.churn.items():
            slot = churn.setdefault(name, [0, 0])
            slot[0] = d if d and (not slot[0] or d < slot[0]) else slot[0]
            slot[1] = max(slot[1], c)
    return sum(1 for d, c in churn.values() if d and c > d)


def _features(s: PrincipalState) -> list[float]:
    cur = s.buckets[-1] if s.buckets else Bucket(0)
    n = dest = priv = evas = writes = errors = off = creates = 0
    new_a = new_s = new_r = new_i = new_x = 0
    resources: set[str] = set()
    regions: set[str] = set()
    for b in s.buckets:  # plain sums: this runs once per event
        n += b.n
        dest += b.destructive
        priv += b.privilege
        evas += b.evasion
        writes += b.writes
        errors += b.errors
        off += b.offhours
        creates += b.creates
        new_a += b.new_action
        new_s += b.new_service
        new_r += b.new_region
        new_i += b.new_ip
        new_x += b.new_sensitive
        resources |= b.resources
        regions |= b.regions
    total = max(n, 1)
    est = s.established
    hist_rate = s.hist_events / max(s.hist_minutes, 1)
    hist_destructive = s.hist_destructive / max(s.hist_minutes, 1) * WINDOW_BUCKETS
    offhours_share = off / total
    hist_offhours = s.hist_offhours / max(s.hist_events, 1)
    slow_from = cur.minute * BUCKET_MS // SLOW_SLOT_MS - SLOW_SLOTS
    return [
        float(cur.n), float(n), float(cur.destructive), float(dest),
        float(sum(c for slot, c, _ in s.slow if slot > slow_from)), float(priv), float(evas),
        float(min(len(resources), MAX_BUCKET_NAMES)), dest / (creates + 1),
        float(_window_churn(s.buckets) if dest else 0), errors / total,
        float(new_a if est else 0), float(new_s if est else 0), float(new_r if est else 0),
        float(new_i if est else 0), float(new_x if est else 0),
        offhours_share, max(0.0, offhours_share - hist_offhours) if est else 0.0,
        cur.n / (hist_rate + 1.0) if est else 1.0,
        dest / (hist_destructive + 1.0) if est else float(dest),
        writes / total, float(len(regions)),
    ]


def build_features(
    events: Iterable[AuditEvent], *, profiles: Mapping[str, PrincipalProfile] | None = None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Feature rows, one per event in the given order, as the streaming detector computes them.

    Parameters
    ----------
    events : AuditEvent iterable, in arrival order (event time within each principal).
    profiles : optional trained profiles that seed each principal's history.

    Returns
    -------
    X : float64 array of shape (n_events, len(FEATURE_NAMES)), and the feature names.
    """
    states: dict[str, PrincipalState] = {}
    rows: list[list[float]] = []
    for event in events:
        state = states.get(event.principal_key)
        if state is None:
            profile = (profiles or {}).get(event.principal_key)
            state = states[event.principal_key] = PrincipalState(
                event.principal_key, event.actor_kind, profile
            )
        state.observe(event)
        rows.append(state.features())
    return np.asarray(rows, dtype=np.float64).reshape(-1, len(FEATURE_NAMES)), FEATURE_NAMES
