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
visit) and AI agents (exploring is their work) are judged by other checks. Part of
BehaviourDetector.
"""

from __future__ import annotations

from dataclasses import dataclass

from detect.anomaly.habit import WINDOW_MS, make_finding
from detect.anomaly.tally import TallyBook, youth_margin
from detect.features import PrincipalState, is_data_read
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


@dataclass(slots=True)
class _Armed:
    """A workload's first successful listing, and its data reads since."""

    ms: int
    event_id: str
    reads: int = 0


class Collection:
    """Per workload: when it first listed storage, and its data reads since."""

    def __init__(self) -> None:
        self._armed: dict[str, _Armed] = {}
        # listing calls a workload made for the first time and was refused: its first
        # successful one is still its first look (review: a refused listing first disarmed it)
        self._refused: dict[str, set[str]] = {}
        self._reads = TallyBook(WINDOW_MS)

    def observe(
        self, state: PrincipalState, event: AuditEvent, *, new_action: bool, ok: bool
    ) -> Finding | None:
        """Judge `event` (`new_action`: the principal never made this call before; `ok`: it
        succeeded)."""
        if state.actor_kind != "service" or not state.mature:
            return None
        at, key = event.event_time_ms, state.key
        if (event.source.partition(".")[0], event.action) in LISTING:
            armed = self._armed.get(key)
            first = new_action or event.action in self._refused.get(key, ())
            if ok and first and (armed is None or at - armed.ms > AFTER_MS):
                self._armed[key] = _Armed(at, event.event_id)  # (a stale one's reads are gone)
                self._reads.forget(key)
            elif not ok and new_action:
                self._refused.setdefault(key, set()).add(event.action)
            return None
        armed = self._armed.get(key)
        if armed is None or not ok or not is_data_read(event.source, event.action, ""):
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
        if count < bar and armed.reads < PACED * bar:
            return None
        return make_finding(
            state,
            event,
            RULE,
            "high",
            f"{armed.reads:g} objects or items read in {(at - armed.ms) // 60_000 + 1} min "
            f"({count:g} in the last 10; usual up to {usual:g} in 10), after this workload "
            "first listed the account's storage -- something it never did",
            ids=(armed.event_id, *tally.ids()),
            first_ms=armed.ms,
            explanation={
                "data_reads_10m": {"value": count, "baseline": usual, "threshold": bar},
                "reads_since_listing": {"value": armed.reads, "threshold": PACED * bar},
                "first_listing": {"event_id": armed.event_id, "ms_before": at - armed.ms},
            },
        )

    def forget(self, principal: str) -> None:
        self._armed.pop(principal, None)
        self._refused.pop(principal, None)
        self._reads.forget(principal)
