"""SlowReads: a person's or an AI agent's data reads over six hours, against its own six hours.

Exfiltration that stays under the 10-minute bars (baseline:bulk_data_read pages a person at 10x
their own 10-minute high, or 5x kept up for 40 minutes): seed 1007's stolen SSO session read
2,287 objects over two hours from a new network at 2.6x her 10-minute high -- ten times her
busiest six hours. On 20 worlds (seeds 995-1014) no person's or agent's six hours of benign reads
reached 2.7x their own busiest (a person's busy day: 794 against 301); exfiltration by people ran
4-40x. Workloads' do reach it (a Glue job's quarter-end, 3.4x), and a workload's surge is left to
the 10-minute checks, which hold it for a second sign. Reads an AWS service makes with the
caller's credentials (Athena, Redshift Spectrum: `sourceIPAddress` athena.amazonaws.com) are the
query's scan, not the person's downloads. Part of BehaviourDetector.

A person's reads from networks new to them -- the context note's news: a person who rarely
sees a new network, on one that fewer than two others here work from -- page at NEW_NET_RATIO
times their busiest six hours, counting only the reads from networks that were news within
the last NEW_NET_MS: stolen keys pull at a pace that stays under both bars (fresh seed 1166: a
data scientist's session read 1,541 objects on a Saturday from a network she never used, 2.9
times her busiest six hours and under her 10-minute high). A person's own busy day at their
usual networks stays with the 5x bar. A new network is not a habit: a day that paged before
does not hold these (`recurs`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from detect.anomaly.habit import make_finding
from detect.anomaly.tally import Tally, youth_margin
from detect.features import PrincipalState, is_data_read, net_of
from detect.findings import Finding
from ingest.events import AuditEvent

__all__ = ["SlowReads"]

RULE = "baseline:slow_data_read"
SLOW_MS = 6 * 3_600_000
SLOT_MS = 600_000  # reads are counted per 10-minute slot (a heavy reader keeps 36 numbers)
RATIO = 5.0  # times the principal's busiest six hours on a day it was not paged
MIN_USUAL = 100.0  # one who barely reads is judged as if their six hours held this many
KINDS = frozenset({"human", "agent"})
SLOT_IDS = 16  # evidence kept per slot
NEW_NET_RATIO = 2.5  # times the busiest six hours, for a person's reads from a new network
NEW_NET_MS = 24 * 3_600_000  # a network stays new a day after it was news (a probe, a pull)
MAX_NEW_NETS = 4  # new networks remembered per person (the latest ones)


@dataclass
class _Slot:
    """Reads in one 10-minute slot, and the first SLOT_IDS of them as evidence."""

    slot: int
    count: int = 0
    ids: list[str] = field(default_factory=list)


@dataclass
class _Window:
    """Reads in the last six hours, by slot."""

    slots: deque[_Slot] = field(default_factory=deque)
    total: int = 0

    def add(self, time_ms: int, event_id: str) -> int | None:
        """Count a read; the slot it counted in, None for one older than the window."""
        slot = time_ms // SLOT_MS
        if not self.slots or slot > self.slots[-1].slot:
            self.slots.append(_Slot(slot))
        elif slot <= self.slots[-1].slot - SLOW_MS // SLOT_MS:
            return None  # hours late (a backfill): outside the window it would join
        else:
            slot = self.slots[-1].slot  # late by minutes: counted with the newest slot
        while self.slots and self.slots[0].slot <= slot - SLOW_MS // SLOT_MS:
            self.total -= self.slots.popleft().count
        newest = self.slots[-1]
        if len(newest.ids) < SLOT_IDS:
            newest.ids.append(event_id)
        newest.count += 1
        self.total += 1
        return slot

    def ids(self) -> tuple[str, ...]:
        return tuple(i for each in self.slots for i in each.ids)

    def first_ms(self) -> int:
        return self.slots[0].slot * SLOT_MS if self.slots else 0


@dataclass
class _Reads(_Window):
    """One principal's reads in the last six hours, by slot, and its days' highs."""

    tally: Tally = field(default_factory=lambda: Tally(SLOW_MS))
    paged_slot: int = -1  # one finding per slot while over a bar


class SlowReads:
    """Data reads (detect.features.DATA_READ_ACTIONS) per principal over six hours."""

    def __init__(self) -> None:
        self._reads: dict[str, _Reads] = {}
        # person -> network -> when it was first seen as news (BehaviourDetector._context)
        self._new_nets: dict[str, dict[str, int]] = {}
        self._from_new: dict[str, _Window] = {}  # person -> reads from those networks

    def new_network(self, principal: str, net: str, time_ms: int) -> None:
        """A person came from `net`, a network they rarely see a new one from (the context
        note's news): their reads from it count on their own (`observe`)."""
        nets = self._new_nets.setdefault(principal, {})
        nets.setdefault(net, time_ms)
        while len(nets) > MAX_NEW_NETS:
            del nets[next(iter(nets))]

    def observe(self, state: PrincipalState, event: AuditEvent) -> Finding | None:
        if state.actor_kind not in KINDS:
            return None
        if not is_data_read(event.source, event.action, event.error_code):
            return None
        if event.source_ip.endswith(".amazonaws.com"):
            return None  # a service reading for the caller (an Athena query's scan)
        reads = self._reads.get(state.key)
        if reads is None:
            reads = self._reads[state.key] = _Reads()
        slot = reads.add(event.event_time_ms, event.event_id)
        if slot is None:
            return None
        count = reads.total
        tally = reads.tally
        tally.reach(event.event_time_ms, float(count))
        fresh = self._from_new_network(state.key, event)
        # the first day this process saw began when it did (an install, a restart, a principal
        # forgotten while idle): a whole day must be watched before the high means anything
        whole_days = tally.days - 1
        if whole_days < 1 or not state.mature:
            return None
        usual = max(tally.high, MIN_USUAL)
        margin = youth_margin(whole_days)
        limit = RATIO * usual * margin
        if slot == reads.paged_slot:
            return None  # (one finding a slot, whichever bar)
        if count >= limit:
            reads.paged_slot = slot
            return self._finding(state, event, reads, count, limit, ())
        new_limit = NEW_NET_RATIO * usual * margin
        if fresh is None or fresh.total < new_limit:
            return None
        reads.paged_slot = slot
        nets = tuple(self._new_nets.get(state.key, ()))
        return self._finding(state, event, fresh, float(fresh.total), new_limit, nets)

    def _from_new_network(self, principal: str, event: AuditEvent) -> _Window | None:
        """Count a person's read from a network that was news within NEW_NET_MS; the reads
        counted so from the last six hours, or None (networks no longer new are let go)."""
        nets = self._new_nets.get(principal)
        if not nets:
            return None
        now = event.event_time_ms
        for old in [n for n, since in nets.items() if now - since > NEW_NET_MS]:
            del nets[old]
        if not nets:
            del self._new_nets[principal]
            self._from_new.pop(principal, None)
            return None
        since = nets.get(net_of(event.source_ip))
        if since is None or now < since:
            return None
        reads = self._from_new.get(principal)
        if reads is None:
            reads = self._from_new[principal] = _Window()
        return reads if reads.add(now, event.event_id) is not None else None

    def _finding(
        self,
        state: PrincipalState,
        event: AuditEvent,
        reads: _Window,
        count: float,
        limit: float,
        nets: tuple[str, ...],
    ) -> Finding:
        """The finding for `count` reads over `limit`; `nets`: counted only from these new
        networks (then no earlier paged day makes it a habit)."""
        tally = self._reads[state.key].tally
        recurs = {"recurs": tally.paged} if not nets and tally.recurs(count) else {}
        where = ""
        if nets:
            which = "a network" if len(nets) == 1 else "networks"
            where = f" from {', '.join(nets)}, {which} new to this person"
        return make_finding(
            state,
            event,
            RULE,
            "high" if count >= 2 * limit else "medium",
            f"{count:g} data reads (objects, items, secret values) in 6 h{where} (usual up to "
            f"{tally.high:g}; threshold {limit:g})",
            ids=reads.ids(),
            first_ms=reads.first_ms(),
            explanation={
                "data_reads_6h": {
                    "value": float(count),
                    "baseline": tally.high,
                    "threshold": limit,
                },
                **({"new_networks": list(nets)} if nets else {}),
                **recurs,  # as much as a day that paged: triage holds it (detect.anomaly.tally)
            },
        )

    def mark_flagged(self, principal: str, time_ms: int) -> None:
        reads = self._reads.get(principal)
        if reads is None:
            reads = self._reads[principal] = _Reads()
        reads.tally.mark_flagged(time_ms)

    def forget(self, principal: str) -> None:
        self._reads.pop(principal, None)
        self._new_nets.pop(principal, None)
        self._from_new.pop(principal, None)
