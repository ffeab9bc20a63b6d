"""Collection: a workload that takes stock of the account's storage, then reads from it in bulk.

A workload knows its buckets and tables by configuration: it reads objects by key and never
asks what the account holds. Its stolen credentials do (MITRE's cloud storage discovery, then
collection -- the shape of the 2019 Capital One breach: an instance role's credentials listed
the buckets, then synced them out). A workload's read surges alone wait for a second sign (a
quarter-end batch reads ten times its usual from the stores it always reads); the same surge
right after its first listing of the account's storage is that second sign, and pages -- even
when it stays under the 10-minute volume bars (fresh seeds 1113 and 1115: a CI role read 1,965
objects in 7 minutes, 53x its own high, held as volume alone; an ECS task read 309 in 18
minutes, 7x, under a workload's floor of 300). People (their console lists buckets on every
visit) and AI agents (exploring is their work) are judged by other checks. A pull from one
store is also judged against that store's own days: past STORE_RATIO times the workload's
busiest earlier day there since the listing pages however it compares with the workload's
reads of all its stores (fresh seed 1552: a Glue job's role that reads ~110 objects a day of
each of two dozen lake buckets, busiest 10 minutes ~110 over all of them, listed the buckets
for the first time and read 446 objects of the finance bucket in 26 minutes -- 3.8x its
busiest day there, 1.7x its 10-minute high: under both bars). Part of BehaviourDetector.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from detect.anomaly.habit import WINDOW_MS, make_finding
from detect.anomaly.tally import TallyBook, youth_margin
from detect.features import DAY_MS, PrincipalState, is_data_read, store_of
from detect.findings import Finding
from ingest.events import AuditEvent

__all__ = ["Collection"]

RULE = "baseline:collection_after_discovery"
# calls that ask what storage the account holds: its buckets or tables, or every resource of a
# type through the tagging, Cloud Control or Config APIs. Not a bucket's keys: `aws s3 sync`
# lists the bucket it copies, and a pipeline's new step that syncs a bucket it always read is
# its work
LISTING = frozenset(
    {
        ("s3", "ListBuckets"),
        ("s3", "ListDirectoryBuckets"),
        ("dynamodb", "ListTables"),
        ("tagging", "GetResources"),
        ("cloudcontrolapi", "ListResources"),
        ("config", "ListDiscoveredResources"),
    }
)
AFTER_MS = 30 * 60_000  # reads this soon after the first listing are what it was for
RATIO = 3.0  # times the workload's own busiest 10 minutes of reads (a learned high)...
MIN_READS = 100  # ... and never fewer than this many in 10 minutes; over the whole AFTER_MS,
PACED = 2.0  # this many times that bar (reads paced just under it for half an hour)
# ... or, of one store read on STORE_DAYS earlier days, this many times its busiest earlier day
# there (a workload's 30 minutes of a store it reads every day stay under 1x that day), at
# least MIN_READS
STORE_RATIO = 2.0
STORE_DAYS = 3
MAX_STORES = 64  # stores whose days are remembered per workload (the least recently read go)


@dataclass(slots=True)
class _Armed:
    """A workload's first successful listing, and its data reads since."""

    ms: int
    event_id: str
    reads: int = 0
    # store -> [reads since it, the store's busiest earlier day and days read as they stood at
    # its first read since it] (fixed then: a pull across midnight must not raise its own bar)
    stores: dict[str, list[int]] = field(default_factory=dict)


@dataclass(slots=True)
class _Days:
    """A workload's reads of one store: today's, its busiest earlier day's, the days it read it."""

    day: int
    today: int = 0
    busiest: int = 0
    days: int = 0


class Collection:
    """Per workload: when it first listed storage, and its data reads since."""

    def __init__(self) -> None:
        self._armed: dict[str, _Armed] = {}
        # listing calls a workload made for the first time and was refused: its first
        # successful one is still its first look (review: a refused listing first disarmed it)
        self._refused: dict[str, set[str]] = {}
        self._reads = TallyBook(WINDOW_MS)
        self._days: dict[str, dict[str, _Days]] = {}  # workload -> store -> its days there

    def observe(
        self, state: PrincipalState, event: AuditEvent, *, new_action: bool, ok: bool
    ) -> Finding | None:
        """Judge `event` (`new_action`: the principal never made this call before; `ok`: it
        succeeded)."""
        if state.actor_kind != "service":
            return None
        at, key = event.event_time_ms, state.key
        read = ok and is_data_read(event.source, event.action, "")
        store = store_of(event) if read else ""
        days = self._count(key, store, at) if store else None  # (from its first read on)
        if not state.mature:
            return None
        if (event.source.partition(".")[0], event.action) in LISTING:
            armed = self._armed.get(key)
            first = new_action or event.action in self._refused.get(key, ())
            if ok and first and (armed is None or at - armed.ms > AFTER_MS):
                self._armed[key] = _Armed(at, event.event_id)  # (a stale one's reads are gone)
                self._reads.forget(key)
            elif not ok and new_action:
                self._refused.setdefault(key, set()).add(event.action)
            return None
        if not read:
            return None
        armed = self._armed.get(key)
        if armed is None:
            return None
        if at - armed.ms > AFTER_MS:
            del self._armed[key]
            self._reads.forget(key)
            return None
        tally = self._reads.get(key)
        count = tally.add(at, event.event_id, event.event_id)
        armed.reads += 1
        usual = state.high.get("data_reads_10m", 0.0)
        bar = max(MIN_READS, RATIO * youth_margin(state.learned_days) * usual)
        of_store, busiest, store_bar = 0, 0, float("inf")
        if store and days is not None:
            counted = armed.stores.setdefault(store, [0, days.busiest, days.days])
            counted[0] += 1
            of_store, busiest = counted[0], counted[1]
            if counted[2] >= STORE_DAYS:
                store_bar = max(MIN_READS, STORE_RATIO * busiest)
        if count < bar and armed.reads < PACED * bar and of_store < store_bar:
            return None
        minutes = (at - armed.ms) // 60_000 + 1
        explanation = {
            "data_reads_10m": {"value": count, "baseline": usual, "threshold": bar},
            "reads_since_listing": {"value": armed.reads, "threshold": PACED * bar},
            "first_listing": {"event_id": armed.event_id, "ms_before": at - armed.ms},
        }
        if of_store >= store_bar:
            explanation["store_reads_since_listing"] = {
                "value": of_store,
                "baseline": busiest,
                "threshold": store_bar,
                "store": store,
            }
            what = (
                f"{of_store:g} objects or items of {store} read in {minutes} min (its busiest "
                f"day there: {busiest:g})"
            )
        else:
            what = (
                f"{armed.reads:g} objects or items read in {minutes} min ({count:g} in the last "
                f"10; usual up to {usual:g} in 10)"
            )
        return make_finding(
            state,
            event,
            RULE,
            "high",
            f"{what}, after this workload first listed the account's storage -- something it "
            "never did",
            ids=(armed.event_id, *tally.ids()),
            first_ms=armed.ms,
            explanation=explanation,
        )

    def _count(self, key: str, store: str, at: int) -> _Days | None:
        """Count a read of `store` on its day; its days as they stood before today's reads
        (None for a read of an earlier day than its latest: late, not counted)."""
        stores = self._days.setdefault(key, {})
        days = stores.pop(store, None)  # (re-inserted last: the dict keeps recency order)
        day = at // DAY_MS
        if days is None:
            days = _Days(day)
            if len(stores) >= MAX_STORES:
                del stores[next(iter(stores))]
        stores[store] = days
        if day < days.day:
            return None
        if day > days.day:
            days.busiest = max(days.busiest, days.today)
            days.days += days.today > 0
            days.day, days.today = day, 0
        days.today += 1
        return days

    def forget(self, principal: str) -> None:
        self._armed.pop(principal, None)
        self._days.pop(principal, None)
        self._refused.pop(principal, None)
        self._reads.forget(principal)
