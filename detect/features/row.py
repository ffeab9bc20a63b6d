"""The feature row of one principal's current window: FEATURE_NAMES and the values in that order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import add, attrgetter
from typing import Any, Protocol

from detect.features.bucket import (
    BUCKET_MS,
    MAX_BUCKET_NAMES,
    SLOW_SLOT_MS,
    SLOW_SLOTS,
    WINDOW_BUCKETS,
    Bucket,
)

__all__ = ["FEATURE_NAMES", "Closed", "Window", "feature_row"]

FEATURE_NAMES: tuple[str, ...] = (  # fixed column order of every feature row
    "events_1m",
    "events_10m",
    "destructive_1m",
    "destructive_10m",
    "destructive_6h",
    "privilege_10m",
    "evasion_10m",
    "distinct_resources_10m",
    "delete_create_ratio_10m",
    "churn_10m",
    "error_rate_10m",
    "new_actions_10m",
    "new_services_10m",
    "new_regions_10m",
    "new_ips_10m",
    "new_sensitive_10m",
    "offhours_share_10m",
    "offhours_surprise_10m",
    "rate_ratio_1m",
    "destructive_ratio_10m",
    "write_share_10m",
    "distinct_regions_10m",
    "data_reads_10m",
    "lasting_destructive_10m",
)


class Window(Protocol):
    """What a feature row is computed from: a principal's open buckets and its history totals.

    `PrincipalState` is the one implementation; the protocol keeps this module free of it.
    """

    @property
    def buckets(self) -> Sequence[Bucket]: ...

    @property
    def slow(self) -> Iterable[Sequence[Any]]: ...

    @property
    def established(self) -> bool: ...

    hist_events: int
    hist_minutes: int
    hist_offhours: int
    hist_destructive: int


def _merged_churn(buckets: Iterable[Bucket]) -> dict[str, list[int]]:
    """Each name's first delete and last create over the buckets (0 = none)."""
    churn: dict[str, list[int]] = {}
    for b in buckets:  # (a window's worth of names each time a closed window is asked)
        for name, (d, c) in b.churn.items():
            slot = churn.get(name)
            if slot is None:  # [0, 0] merged with (d, c) as below, without building it first
                churn[name] = [d if d else 0, c if c > 0 else 0]
                continue
            if d and (not slot[0] or d < slot[0]):
                slot[0] = d
            if c > slot[1]:  # (max without its call)
                slot[1] = c
    return churn


def _recreated(d: int, c: int) -> bool:
    return bool(d) and c > d


# the counters feature_row sums over the window, in this order
_SUMMED = (
    "n",
    "destructive",
    "privilege",
    "evasion",
    "writes",
    "errors",
    "offhours",
    "creates",
    "data_reads",
    "lasting_destructive",
    "new_action",
    "new_service",
    "new_region",
    "new_ip",
    "new_sensitive",
)
_counters = attrgetter(*_SUMMED)


@dataclass(slots=True)
class Closed:
    """What a window's closed buckets (all but the newest) add to its features: they change
    only when the window rolls or a late event lands in one of them, while every further event
    of the newest minute needs them (PrincipalState keeps one from its second row of a minute;
    its first is counted plainly, which costs less than building this)."""

    buckets: list[Bucket]  # the closed buckets
    sums: list[int]
    resources: set[str]  # their names, gathered up to MAX_BUCKET_NAMES
    regions: set[str]
    churn: dict[str, list[int]] | None = None  # merged when first asked (only with deletes)
    recreated: int = 0  # names of `churn` whose last create follows their first delete
    # the newest bucket's names and regions not among the closed ones', as last counted, with
    # the sizes of its sets then: a bucket's sets only grow (PrincipalState._count), so a size
    # unchanged is a set unchanged -- most events of a minute add no new name or region
    counted: Bucket | None = None
    names_at: int = -1
    fresh_names: int = 0
    regions_at: int = -1
    fresh_regions: int = 0
    # recreated_with's last answer, for the newest bucket at this many events: only an event
    # counted in it changes its churn (PrincipalState._count), and that counts it in `n` -- an
    # event too old for the window (a backlog behind the newest minute) changes neither
    churned_of: Bucket | None = None
    churned_n: int = -1
    churned: int = 0

    @classmethod
    def of(cls, buckets: Sequence[Bucket]) -> Closed:
        closed = list(buckets)[:-1]
        return cls(closed, *_gather(closed))

    def recreated_with(self, cur: Bucket) -> int:
        """Names recreated over the closed buckets and `cur` (_merged_churn of all of them)."""
        if cur is self.churned_of and cur.n == self.churned_n:
            return self.churned
        if self.churn is None:
            self.churn = _merged_churn(self.buckets)
            self.recreated = sum(1 for d, c in self.churn.values() if _recreated(d, c))
        count = self.recreated
        for name, (d, c) in cur.churn.items():
            slot = self.churn.get(name)
            if slot is None:
                count += _recreated(d, c)
                continue
            first = d if d and (not slot[0] or d < slot[0]) else slot[0]
            count += _recreated(first, max(slot[1], c)) - _recreated(slot[0], slot[1])
        self.churned_of, self.churned_n, self.churned = cur, cur.n, count
        return count

    def fresh_with(self, cur: Bucket) -> tuple[int, int]:
        """`cur`'s names and regions not among the closed buckets' (counted again only when
        one of its sets grew since)."""
        if cur is not self.counted:
            self.counted, self.names_at, self.regions_at = cur, -1, -1
        if len(cur.resources) != self.names_at:
            self.names_at = len(cur.resources)
            self.fresh_names = len(cur.resources - self.resources)
        if len(cur.regions) != self.regions_at:
            self.regions_at = len(cur.regions)
            self.fresh_regions = len(cur.regions - self.regions)
        return self.fresh_names, self.fresh_regions


def _gather(buckets: Sequence[Bucket]) -> tuple[list[int], set[str], set[str]]:
    """The buckets' counter sums (in _SUMMED order), names (gathered up to MAX_BUCKET_NAMES)
    and regions."""
    n = dest = priv = evas = writes = errors = off = creates = data = lasting = 0
    new_a = new_s = new_r = new_i = new_x = 0
    resources: set[str] = set()
    regions: set[str] = set()
    for b in buckets:  # plain sums: cheaper than anything cleverer for one row
        n += b.n
        dest += b.destructive
        priv += b.privilege
        evas += b.evasion
        writes += b.writes
        errors += b.errors
        off += b.offhours
        creates += b.creates
        data += b.data_reads
        lasting += b.lasting_destructive
        new_a += b.new_action
        new_s += b.new_service
        new_r += b.new_region
        new_i += b.new_ip
        new_x += b.new_sensitive
        if len(resources) < MAX_BUCKET_NAMES:  # (the count stops there: no need to go on)
            resources |= b.resources
        regions |= b.regions
    sums = [n, dest, priv, evas, writes, errors, off, creates, data, lasting]
    sums += [new_a, new_s, new_r, new_i, new_x]
    return sums, resources, regions


def _plain(buckets: Sequence[Bucket]) -> tuple[list[int], int, int]:
    """The window's counter sums, distinct names (capped) and regions, bucket by bucket."""
    sums, resources, regions = _gather(buckets)
    return sums, min(len(resources), MAX_BUCKET_NAMES), len(regions)


def feature_row(s: Window, closed: Closed | None = None) -> list[float]:
    """The values of `s`'s current window (1 min, 10 min, 6 h), in FEATURE_NAMES order.

    `closed`: `Closed.of(s.buckets)` when the caller keeps one (PrincipalState.features);
    without it the window is counted bucket by bucket."""
    cur = s.buckets[-1] if s.buckets else Bucket(0)
    if closed is None:
        sums, distinct, regions = _plain(s.buckets)
    else:
        # (both in _SUMMED order, as long: the unpacking below would catch a stray length)
        sums = list(map(add, closed.sums, _counters(cur)))
        fresh_names, fresh_regions = closed.fresh_with(cur)
        if len(closed.resources) >= MAX_BUCKET_NAMES:
            distinct = MAX_BUCKET_NAMES
        else:
            distinct = min(len(closed.resources) + fresh_names, MAX_BUCKET_NAMES)
        regions = len(closed.regions) + fresh_regions
    (
        n,
        dest,
        priv,
        evas,
        writes,
        errors,
        off,
        creates,
        data,
        lasting,
        new_a,
        new_s,
        new_r,
        new_i,
        new_x,
    ) = sums
    if not dest:
        churned = 0
    elif closed is None:
        churned = sum(1 for d, c in _merged_churn(s.buckets).values() if _recreated(d, c))
    else:
        churned = closed.recreated_with(cur)
    # (conditionals rather than max(): the same values, without a call each, every event)
    total = n if n > 1 else 1
    est = s.established
    minutes = s.hist_minutes if s.hist_minutes > 1 else 1
    hist_rate = s.hist_events / minutes
    hist_destructive = s.hist_destructive / minutes * WINDOW_BUCKETS
    offhours_share = off / total
    hist_offhours = s.hist_offhours / (s.hist_events if s.hist_events > 1 else 1)
    offhours_surprise = offhours_share - hist_offhours
    if s.slow:
        slow_from = cur.minute * BUCKET_MS // SLOW_SLOT_MS - SLOW_SLOTS
        slow = sum(c for slot, c, _ in s.slow if slot > slow_from)
    else:
        slow = 0  # (most principals delete nothing for six hours)
    return [
        float(cur.n),
        float(n),
        float(cur.destructive),
        float(dest),
        float(slow),
        float(priv),
        float(evas),
        float(distinct),
        dest / (creates + 1),
        float(churned),
        errors / total,
        float(new_a if est else 0),
        float(new_s if est else 0),
        float(new_r if est else 0),
        float(new_i if est else 0),
        float(new_x if est else 0),
        offhours_share,
        offhours_surprise if est and offhours_surprise > 0.0 else 0.0,
        cur.n / (hist_rate + 1.0) if est else 1.0,
        dest / (hist_destructive + 1.0) if est else float(dest),
        writes / total,
        float(regions),
        float(data),
        float(lasting),
    ]
