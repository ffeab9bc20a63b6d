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

from detect.anomaly.habit import WINDOW_MS, make_finding
from detect.anomaly.tally import TallyBook, youth_margin
from detect.features import PrincipalState, is_data_read
from detect.findings import Finding
from ingest.events import AuditEvent

__all__ = ["Collection"]

RULE = "baseline:collection_after_discovery"
# calls that ask what storage the account holds. Not a bucket's keys: `aws s3 sync` lists the
# bucket it copies, and a pipeline's new step that syncs a bucket it always read is its work
LISTING = frozenset({"ListBuckets", "ListDirectoryBuckets", "ListTables"})
AFTER_MS = 30 * 60_000  # reads this soon after the first listing are what it was for
RATIO = 3.0  # times the workload's own busiest 10 minutes of reads (a learned high)...
MIN_READS = 100  # ... and never fewer than this many in 10 minutes


class Collection:
    """Per workload: when it first listed storage, and its data reads in 10 minutes since."""

    def __init__(self) -> None:
        self._listed: dict[str, tuple[int, str]] = {}  # principal -> (ms, event) of first listing
        self._reads = TallyBook(WINDOW_MS)

    def observe(self, state: PrincipalState, event: AuditEvent, new_action: bool) -> Finding | None:
        """Judge `event` (a successful call; `new_action`: the principal never made it)."""
        if state.actor_kind != "service" or not state.mature:
            return None
        at = event.event_time_ms
        if new_action and event.action in LISTING:
            self._listed.setdefault(state.key, (at, event.event_id))
            return None
        listed = self._listed.get(state.key)
        if listed is None or not is_data_read(event.source, event.action, event.error_code):
            return None
        if at - listed[0] > AFTER_MS:
            del self._listed[state.key]
            return None
        tally = self._reads.get(state.key)
        count = tally.add(at, event.event_id, event.event_id)
        usual = state.high.get("data_reads_10m", 0.0)
        bar = max(MIN_READS, RATIO * youth_margin(state.learned_days) * usual)
        if count < bar:
            return None
        return make_finding(
            state,
            event,
            RULE,
            "high",
            f"{count:g} objects or items read in 10 min (usual up to {usual:g}), minutes after "
            "this workload first listed the account's storage -- something it never did",
            ids=(listed[1], *tally.ids()),
            first_ms=min(listed[0], tally.first_ms()),
            explanation={
                "data_reads_10m": {"value": count, "baseline": usual, "threshold": bar},
                "first_listing": {"event_id": listed[1], "ms_before": at - listed[0]},
            },
        )

    def forget(self, principal: str) -> None:
        self._listed.pop(principal, None)
        self._reads.forget(principal)
