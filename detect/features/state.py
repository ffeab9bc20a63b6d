"""Per-principal streaming state: rolling minute buckets, history counters and first-seen sets."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from detect.features.bucket import (
    BUCKET_MS,
    CREATE_ACTION_RE,
    DAY_MS,
    EPHEMERAL_NAME_RE,
    GRANT_ACTIONS,
    ITEM_DELETES,
    MAX_BUCKET_IDS,
    MAX_BUCKET_NAMES,
    NON_PROD_NAME_RE,
    PROD_RESOURCE_RE,
    SLOW_SLOT_MS,
    SLOW_SLOTS,
    WINDOW_BUCKETS,
    Bucket,
    is_data_read,
    is_offhours,
    resource_name,
)
from detect.features.row import FEATURE_NAMES, Closed, feature_row
from ingest.catalogue import default_catalogue
from ingest.events import AuditEvent

__all__ = [
    "ESTABLISHED_EVENTS",
    "Excused",
    "FIRST_SEEN_PROD_DESTRUCTIVE",
    "FIRST_SEEN_SENSITIVE",
    "MATURE_DAYS",
    "MAX_SEEN",
    "MAX_SLOW_IDS",
    "SEEN_DIMENSIONS",
    "PrincipalProfile",
    "PrincipalState",
    "matured",
    "source_of",
    "without",
]

MAX_SLOW_IDS = 32  # destructive event ids kept per 10-minute slot of the 6-hour window
IPV6_PREFIX = 48  # net_of: an IPv6 address's network, a site
MAX_SEEN = 2048  # values remembered per principal and dimension (first-seen features)
LATE_NETS_KEPT = 4  # networks first seen by a mature principal remembered with their time
ESTABLISHED_EVENTS = 200  # history events before first-seen and rate features count
MATURE_DAYS = 2  # distinct active days (UTC) before a principal's own baseline is trusted
MATURE_MINUTES = 30  # and active minutes: a principal seen twice for a moment is still a stranger
# ...unless it came back on this many days: a scheduled job that works minutes a day (a key
# rotator, a nightly export) has shown its whole job by then
MATURE_SCHEDULED_DAYS = 3
NOVELTY_DAYS = 2  # active days after the first before a principal's novelty rate means anything
SEEN_DIMENSIONS = (
    "action",
    "service",
    "region",
    "ip",
    "destructive",
    "sensitive",
    "prod",
    "net",  # the network of source addresses (net_of: an IPv4 /16, an IPv6 /48)
    "client",  # the user agent's product (aws-cli, Boto3, Mozilla...)
    "store",  # buckets and tables whose data it read
    # "mfa" / "no-mfa": how its latest successful console sign-in was made -- from the trained
    # history only (detect.anomaly.history); while streaming, OrgMemory keeps it
    "signin",
)
FIRST_SEEN_PROD_DESTRUCTIVE = 1  # observe() flag: first time this action hits a prod-like name
FIRST_SEEN_SENSITIVE = 2  # observe() flag: a never-seen privilege or defense-evasion action

_CREATE = re.compile(CREATE_ACTION_RE)
_PROD = re.compile(PROD_RESOURCE_RE)
_EPHEMERAL = re.compile(EPHEMERAL_NAME_RE)
_NON_PROD = re.compile(NON_PROD_NAME_RE)
_FEATURE_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
# the window features a call its own context explained raises, in Excused's order
_EXCUSABLE = tuple(
    _FEATURE_INDEX[name]
    for name in ("privilege_10m", "evasion_10m", "new_sensitive_10m", "new_actions_10m")
)
Excused = tuple[int, int, int, int]  # PrincipalState.excused_counts


def without(row: list[float], counts: Excused) -> list[float]:
    """A feature row with a window's excused calls (`PrincipalState.excused_counts`) taken out
    of the counts they raised -- what a window of an administrator's excused chores (the flow
    logs of a deleted network, a new hire's keys) would be without them: fresh seeds 1092 and
    1179 paged on aggregates made of such calls. Reads, deletes and volume stay."""
    rest = list(row)
    for i, excused in zip(_EXCUSABLE, counts, strict=True):
        rest[i] = max(0.0, rest[i] - excused)
    return rest


_IPV4 = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_S3_ARN = "arn:aws:s3:::"


def source_of(event: AuditEvent) -> tuple[tuple[str, str], ...]:
    """The event's network (net_of), client product and data store, as the
    seen dimensions "net", "client" and "store" record them ("" where there is none) -- in
    this order (detect.anomaly.behaviour.Novelty.of unpacks them)."""
    return (
        ("net", net_of(event.source_ip)),
        ("client", client_of(event.user_agent)),
        ("store", store_of(event)),
    )


@functools.lru_cache(maxsize=4096)
def net_of(ip: str) -> str:
    """The network an address belongs to: "a.b.0.0/16" of a dotted IPv4 address, the /48 of an
    IPv6 one ("2a05:d018:1a2b::/48": a site, as RIRs assign them -- a provider's /32 would put
    every tenant of a cloud region, or every phone of a carrier, on one network); "" for
    anything else (a service name, an IPv4-mapped or scoped address). Before, IPv6 was "":
    keys used over a dual-stack endpoint were never from a new network."""
    if _IPV4.fullmatch(ip):
        parts = ip.split(".")
        return f"{parts[0]}.{parts[1]}.0.0/16"
    return _net6(ip) if ":" in ip and "%" not in ip else ""


@functools.lru_cache(maxsize=4096)
def _net6(ip: str) -> str:
    try:
        address = ipaddress.IPv6Address(ip)
    except ValueError:
        return ""
    if address.ipv4_mapped is not None:
        return ""
    return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))


@functools.lru_cache(maxsize=4096)
def client_of(user_agent: str) -> str:
    """The client product: the first token, without its version ("aws-cli", "boto3")."""
    head = user_agent.strip().lstrip("[").split(" ", 1)[0]
    return head.split("/", 1)[0][:40].lower()


def _bucket_of(s3_arn: str) -> str:
    """The bucket of an S3 ARN (`arn:aws:s3:::bucket/key`)."""
    return s3_arn[len(_S3_ARN) :].split("/", 1)[0]


def _scratch(event: AuditEvent) -> bool:
    """A delete outside production: of an object, item or message in a store named for a
    non-production environment or as temporary -- the store decides, not the key (review: an
    agent deleting customer exports under `it/` or `qa/` keys is not cleaning up) -- or of
    resources every one of which is so named."""
    if not event.resources:
        return False
    if event.action in ITEM_DELETES:
        store = event.resources[0]
        store = _bucket_of(store) if store.startswith(_S3_ARN) else store
        return bool(_NON_PROD.search(store) or _EPHEMERAL.search(store))
    return all(_NON_PROD.search(r) or _EPHEMERAL.search(r) for r in event.resources)


def _lasting(event: AuditEvent) -> bool:
    """A delete that succeeded of something meant to last: not an object, item or message,
    nor a resource named as temporary."""
    return (
        not event.error_code
        and event.action not in ITEM_DELETES
        and not any(_EPHEMERAL.search(r) for r in event.resources)
    )


def scratch_delete(event: AuditEvent) -> bool:
    """A delete of scratch (_scratch) that is not of a resource meant to last (_lasting):
    a dev bucket's objects, a temporary queue -- not a staging table, nor an object's versions
    (DeleteObjectVersion removes for good what a versioned bucket keeps to undo a delete:
    review). The caller rules out production names."""
    return event.action != "DeleteObjectVersion" and _scratch(event) and not _lasting(event)


def store_of(event: AuditEvent) -> str:
    """The bucket or table a successful data read read from; "" for other calls."""
    if not event.resources or not is_data_read(event.source, event.action, event.error_code):
        return ""
    resource = event.resources[0]
    if resource.startswith(_S3_ARN):
        return _bucket_of(resource)
    if ":table/" in resource:
        return resource.split(":table/", 1)[1].split("/", 1)[0]
    return resource.split("/", 1)[0]


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
    first_ms: int = 0  # event time of the first event in the training history
    last_ms: int = 0  # and of the last one
    active_days: int = 0  # distinct UTC days with events in the training history
    # per seen dimension, the days after the principal's first on which a new value appeared
    novel_days: Mapping[str, int] = field(default_factory=dict)


def matured(active_days: int, minutes: int) -> bool:
    """Whether a principal seen on `active_days` days for `minutes` active minutes has a baseline
    of its own (PrincipalState.mature)."""
    if active_days < MATURE_DAYS:
        return False
    return minutes >= MATURE_MINUTES or active_days >= MATURE_SCHEDULED_DAYS


class PrincipalState:
    """One principal's rolling windows and history; bounded memory, event-time driven.

    Time is cut into minute buckets per principal. The 1-minute window is the current bucket, the
    10-minute window the last ten buckets, and a 6-hour ring of 10-minute slots keeps slow
    destructive counts. Streaming feeds events into `observe`; training feeds complete buckets
    built in SQL (`detect.anomaly.history.load_history`) into `push_bucket`. Both end in the same
    `features()` code, so a streamed event's row equals the training row of its minute once that
    minute is complete.
    """

    def __init__(self, key: str, actor_kind: str, profile: PrincipalProfile | None = None) -> None:
        self.key = key
        self.actor_kind = profile.actor_kind if profile else actor_kind
        self.buckets: deque[Bucket] = deque()
        self.slow: deque[list[Any]] = deque()  # [slot, destructive count, event ids]
        # event time of the latest delete that was not scratch_delete(): six hours without one
        # are a clean-up (slow_scratch) -- one that arrived too late for its slot counts too
        self._kept_ms = 0
        self.hist_events = profile.events if profile else 0
        self.hist_minutes = profile.minutes if profile else 0
        self.hist_offhours = profile.offhours if profile else 0
        self.hist_destructive = profile.destructive if profile else 0
        self.seen: dict[str, set[str]] = {d: set() for d in SEEN_DIMENSIONS}
        self.high: dict[str, float] = dict(profile.high) if profile else {}
        if profile:
            for dim, values in profile.seen.items():
                self.seen.setdefault(dim, set()).update(values)
        self.last_event_ms = 0
        # dimension -> days after the first active day that brought a new value (a CI runner's
        # IP: every day; a person's network: hardly ever), and the latest such day
        self.novel_days: dict[str, int] = dict(getattr(profile, "novel_days", {}) or {})
        # permission-changing actions -> event time first seen (0: known from training, where
        # the class of a seen action is looked up by its IAM name)
        iam = default_catalogue()
        self.privilege_since: dict[str, int] = {
            action: 0
            for action in self.seen["sensitive"]
            if iam.classify("iam.amazonaws.com", action) == "privilege"
        }
        self._novel_day: dict[str, int] = {}
        # networks (net_of) first seen once the principal was mature -> event time first seen
        # (the latest LATE_NETS_KEPT): where a sign that its credentials are held came from
        self.late_nets: dict[str, int] = {}
        self.first_event_ms = profile.first_ms if profile else 0
        self.active_days = profile.active_days if profile else 0
        self._last_day = profile.last_ms // DAY_MS if profile and profile.last_ms else -1
        self._excused_minute = -1  # the latest minute `excuse` counted a call in
        self._closed: Closed | None = None  # the closed buckets' totals, until they change
        self._closed_wanted = -1  # the newest minute a row was counted plainly for

    # -- windows --------------------------------------------------------------------------------
    def _bucket_for(self, minute: int) -> Bucket | None:
        """The bucket of `minute`, rolling the window forward; None when older than the window."""
        if self.buckets and self.buckets[-1].minute == minute:
            return self.buckets[-1]  # (the common case: the newest minute again)
        if not self.buckets or minute > self.buckets[-1].minute:
            self._closed = None  # the newest bucket closes (and the oldest may leave)
            if self.buckets:
                self._close(self.buckets[-1])
            self.buckets.append(Bucket(minute))
            while self.buckets[0].minute <= minute - WINDOW_BUCKETS:
                self.buckets.popleft()
            return self.buckets[-1]
        for bucket in reversed(self.buckets):
            if bucket.minute == minute:
                if bucket is not self.buckets[-1]:
                    self._closed = None  # a late event changes a closed bucket
                return bucket
        if minute < self.buckets[-1].minute - SLOW_SLOTS * WINDOW_BUCKETS:
            self._closed = None
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
        today = self._last_day
        if (
            self.first_event_ms
            and today > self.first_event_ms // DAY_MS
            and self._novel_day.get(dim) != today
        ):
            self._novel_day[dim] = today
            self.novel_days[dim] = self.novel_days.get(dim, 0) + 1
        return True

    def privilege_new(self, event: AuditEvent) -> bool:
        """A permission-changing call that is not yet this principal's routine (judged before
        `observe`): its first success (a refused try made the call seen, not done), or, for a
        person or an AI agent, a call first made less than a day before (seed 1001: a person's
        backdoor user at night passed as routine because a first one had paged that afternoon;
        a pipeline's IAM changes on its first deploy day are its job)."""
        if event.action_class != "privilege" or event.error_code:
            return False
        since = self.privilege_since.get(event.action)
        if since is None:
            return event.action not in self.seen["sensitive"]
        recent = since > 0 and event.event_time_ms - since < DAY_MS
        return recent and self.actor_kind != "service"

    def late_net_age(self, net: str, at_ms: int) -> int | None:
        """How long before `at_ms` the principal first used `net`, mature by then (late_nets);
        None for a network it used before it was mature, or not among the latest kept."""
        first = self.late_nets.get(net)
        return None if first is None else at_ms - first

    def novelty_share(self, dim: str) -> float | None:
        """The share of the principal's active days after its first that brought a new value of
        `dim`; None while fewer than NOVELTY_DAYS such days were observed."""
        days = self.active_days - 1
        if days < NOVELTY_DAYS:
            return None
        return self.novel_days.get(dim, 0) / days

    def _touch(self, time_ms: int) -> None:
        """Track the principal's observed life: first event, latest event, active days."""
        if not self.first_event_ms or time_ms < self.first_event_ms:
            self.first_event_ms = time_ms
        if time_ms > self.last_event_ms:
            self.last_event_ms = time_ms
        day = time_ms // DAY_MS
        if day > self._last_day:
            self.active_days += 1
            self._last_day = day

    def observe(
        self,
        event: AuditEvent,
        source: tuple[tuple[str, str], ...] | None = None,
        *,
        unvetted: bool = False,
        unvetted_prod: bool = False,
    ) -> int:
        """Add one event; returns FIRST_SEEN_* flags (0 when nothing is new about it).

        `source` is `source_of(event)` when the caller computed it already. `unvetted`: the
        call was new when it paged and nobody resolved that alert yet
        (detect.anomaly.vetting) -- it counts as never made; `unvetted_prod`: the same for its
        use on production."""
        self._touch(event.event_time_ms)
        cls = event.action_class
        destructive = cls == "destructive"
        # a call that failed (a trail that does not exist, a denied attempt) did not delete or
        # change anything: it is not the principal's first delete or permission change
        done = not event.error_code
        new_destructive = (
            done and destructive and (self._first_seen("destructive", event.action) or unvetted)
        )
        new_sensitive = False
        if done and cls in ("privilege", "defense_evasion"):
            first = self._first_seen("sensitive", event.action)
            if first and cls == "privilege":
                self.privilege_since[event.action] = event.event_time_ms
            new_sensitive = first or unvetted
        # a value already seen is not new (_first_seen's own first test, asked here without its
        # call: seven dimensions an event, nearly all of them known)
        seen = self.seen
        flags = (
            (event.action not in seen["action"] and self._first_seen("action", event.action))
            or unvetted,
            event.source not in seen["service"] and self._first_seen("service", event.source),
            event.region not in seen["region"] and self._first_seen("region", event.region),
            event.source_ip not in seen["ip"] and self._first_seen("ip", event.source_ip),
        )
        for dim, value in source if source is not None else source_of(event):
            if not value or value in seen[dim]:
                continue
            if self._first_seen(dim, value) and dim == "net" and self.mature:
                self.late_nets[value] = event.event_time_ms
                if len(self.late_nets) > LATE_NETS_KEPT:
                    del self.late_nets[next(iter(self.late_nets))]
        names = {resource_name(r) for r in event.resources} if event.resources else set()
        # the prod set remembers deletes and grants (new code, a shell) on production names;
        # only a delete raises the flag
        grant = event.action in GRANT_ACTIONS
        on_prod = (destructive or grant) and any(_PROD.search(r) for r in event.resources)
        prod = destructive and on_prod
        new_prod = (
            on_prod
            and ((done and self._first_seen("prod", event.action)) or unvetted or unvetted_prod)
            and prod
        )
        if destructive and (prod or not scratch_delete(event)):
            self._kept_ms = max(self._kept_ms, event.event_time_ms)
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
        bucket.data_reads += is_data_read(event.source, event.action, event.error_code)
        bucket.regions.add(event.region)
        if len(bucket.resources) < MAX_BUCKET_NAMES:
            bucket.resources.update(names)
        if cls == "destructive":
            bucket.destructive += 1
            bucket.prod_destructive += prod
            bucket.lasting_destructive += _lasting(event)
            bucket.scratch_destructive += not prod and _scratch(event)
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
                bucket.add_churn(
                    name, delete_ms=t if cls == "destructive" else 0, create_ms=t if created else 0
                )

    def push_bucket(self, bucket: Bucket) -> None:
        """Add a complete bucket built elsewhere (training from SQL); minutes must ascend."""
        if self.buckets and bucket.minute <= self.buckets[-1].minute:
            raise ValueError(
                f"bucket minute {bucket.minute} does not follow {self.buckets[-1].minute}"
            )
        if self.buckets:
            self._close(self.buckets[-1])
        self._closed = None
        self.buckets.append(bucket)
        while self.buckets[0].minute <= bucket.minute - WINDOW_BUCKETS:
            self.buckets.popleft()
        if bucket.destructive:
            self._add_slow(bucket.minute * BUCKET_MS, bucket.destructive)
            if bucket.scratch_destructive < bucket.destructive or bucket.lasting_destructive:
                self._kept_ms = max(self._kept_ms, bucket.minute * BUCKET_MS)
        self._touch(bucket.minute * BUCKET_MS)

    def finish(self) -> None:
        """Fold the open bucket into history and empty the windows (end of a training replay)."""
        if self.buckets:
            self._close(self.buckets[-1])
        self._closed = None
        self.buckets.clear()
        self.slow.clear()

    # -- output ---------------------------------------------------------------------------------
    @property
    def established(self) -> bool:
        return self.hist_events >= ESTABLISHED_EVENTS

    @property
    def learned_days(self) -> int:
        """Days whose highs the baselines have learned: the active days before today's."""
        return max(self.active_days - 1, 0)

    @property
    def mature(self) -> bool:
        """Observed long enough (MATURE_DAYS active days and MATURE_MINUTES active minutes, or
        MATURE_SCHEDULED_DAYS active days however brief) for its own baseline to say what is
        unusual for it; until then anomaly findings only note."""
        return matured(self.active_days, self.hist_minutes)

    def scratch_window(self) -> bool:
        """Every delete of the current 10-minute window was outside production: of resources
        named for a non-production environment or as temporary, none of them lasting (a dev
        or staging bucket's objects; not a staging table)."""
        deletes = scratch = lasting = 0
        for b in self.buckets:
            deletes += b.destructive
            scratch += b.scratch_destructive
            lasting += b.lasting_destructive
        return deletes > 0 and scratch == deletes and not lasting

    def slow_scratch(self) -> bool:
        """Every delete of the current 6-hour window was outside production and none of them
        of a resource meant to last (scratch_delete): a clean-up day of dev and staging
        objects."""
        if not self.buckets:
            return False
        slow_from = self.buckets[-1].minute * BUCKET_MS // SLOW_SLOT_MS - SLOW_SLOTS
        if self._kept_ms // SLOW_SLOT_MS > slow_from:
            return False
        return any(slot[0] > slow_from and slot[1] for slot in self.slow)

    def window_ids(self, kind: str) -> list[str]:
        """Event ids of the window's destructive ("destructive") or privilege/evasion events."""
        attr = "destructive_ids" if kind == "destructive" else "sensitive_ids"
        # (extended bucket by bucket, not a step per id: a busy window holds hundreds, and
        # they are asked for each finding on it)
        ids: list[str] = []
        for b in self.buckets:
            ids += getattr(b, attr)
        return ids

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
        if self._closed is None:
            newest = self.buckets[-1].minute if self.buckets else -1
            if self._closed_wanted != newest:  # a minute's first row (a rolled window, a
                self._closed_wanted = newest  # quiet principal, training): counted plainly
                return feature_row(self)
            self._closed = Closed.of(self.buckets)  # its second: worth keeping the totals
        return feature_row(self, self._closed)

    def excuse(self, event: AuditEvent, *, new_action: bool, new_sensitive: bool) -> None:
        """Remember that `event` (already observed) was a call its own context explained -- a
        benign twin held its findings -- so the window's aggregates can be judged without it
        (`excused_counts`, `without`). `new_action` / `new_sensitive`: whether it counted as a
        new action / a first-seen sensitive action."""
        minute = event.event_time_ms // BUCKET_MS
        for bucket in reversed(self.buckets):
            if bucket.minute == minute:
                cls = event.action_class
                bucket.excused_privilege += cls == "privilege"
                bucket.excused_evasion += cls == "defense_evasion"
                bucket.excused_new_sensitive += new_sensitive
                bucket.excused_new_action += new_action
                self._excused_minute = max(self._excused_minute, minute)
                return
            if bucket.minute < minute:
                return

    def excused_counts(self) -> Excused | None:
        """What the calls `excuse` recorded add to this window's counts (privilege, evasion,
        first-seen sensitive, new actions); None when the window holds none."""
        if not self.buckets or self._excused_minute <= self.buckets[-1].minute - WINDOW_BUCKETS:
            return None  # (the common case, checked without summing the window)
        priv = evas = new_x = new_a = 0
        for b in self.buckets:
            priv += b.excused_privilege
            evas += b.excused_evasion
            new_x += b.excused_new_sensitive
            new_a += b.excused_new_action
        return (priv, evas, new_x, new_a) if priv or evas or new_x or new_a else None
