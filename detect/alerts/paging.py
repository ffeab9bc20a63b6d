"""Pager: which findings open alerts -- pages alone, holds when corroborated, notes never."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from detect.alerts.alert import Alert, severity_rank
from detect.alerts.incidents import AlertBook
from detect.features import net_of
from detect.findings import (
    BUSY,
    CONSOLE_ONLY,
    FOREST_RULE,
    FROM_ELSEWHERE,
    FROM_NEW_NETWORK,
    KNOWN_NET,
    NEWS,
    ON_CONSOLE_NET,
    READ_VOLUME_RULES,
    RESTATES,
    SOURCE_RULES,
    VOLUME_RULES,
    YOUNG_TARGET,
    Finding,
)

__all__ = ["Pager"]

_RESTATING = frozenset().union(*RESTATES.values())  # findings that restate a twin's context
_HIGH = severity_rank("high")  # a forest score this far out corroborates even a new tool
MAX_REMEMBERED = 64  # held findings and notes kept per principal while they wait (and traces)
# a count of a principal's ordinary work (its reads, its calls) this many times its bar is past
# the principal's range, not at its edge: a new network corroborates it (_corroborates). Counts
# that say what was read -- secrets never opened (a sweep), KMS decrypts, deletes -- are not
# judged by it (a thief's sixteen never-opened secrets against a floor of 15 still page)
MARGIN = 1.25
BUSY_COUNTS = frozenset({"baseline:bulk_data_read", "baseline:rate_spike"})
CONTEXT_PREFIX = "context:"  # notes about a call's circumstances, not about the call

Change = tuple[str, Alert] | None
Waiting = tuple[Finding, str, str]  # (finding, action class, action of its call)


class Pager:
    """Routes findings into the AlertBook by their tier (see Finding.tier).

    A finding joins its principal's open incident whatever its tier. Without one, a "page"
    finding opens an alert; a "hold" finding opens one when another finding of the same
    principal -- a different detector on a different kind of call, not itself explained by
    benign context -- arrived within `window_ms` of event
    time before it (or arrives after it while it waits); a "note" never opens one but can be
    that corroboration; a "trace" only joins open incidents. When an alert opens, the
    principal's waiting findings join it as evidence. Waiting findings older than the window
    are forgotten, per principal clock. Traces wait in a queue of their own, and a full queue
    drops the oldest finding of a rule that has a newer one waiting: hundreds of reads from a
    new network (each a trace, each a held bulk-read finding) must not push out the one note
    that corroborates them.
    """

    def __init__(self, book: AlertBook, *, window_ms: int) -> None:
        self.book = book
        self.window_ms = window_ms
        self._waiting: dict[str, deque[Waiting]] = {}  # principal -> (finding, class, action)
        self._traces: dict[str, deque[Waiting]] = {}  # principal -> traces (join, never open)

    def apply(
        self, finding: Finding, action_class: str, action: str = "", *, resume: Sequence[str] = ()
    ) -> list[Change]:
        """Merge one finding (raised on a call `action` of `action_class`); returns the alert
        changes it caused (possibly none). `resume`: AlertBook.merge's."""
        result = self.book.merge(
            finding, action_class, may_open=finding.tier == "page", resume=resume
        )
        if result is not None:
            current = self.book.current(finding.principal)
            if current is None or current.id != result[1].id:
                return [result]  # an earlier alert grew (resume): the waiting wait on (review)
            return [result, *self._flush(finding.principal, since=self._since(finding))]
        if finding.tier == "page" or self._in_incident(finding):
            return []  # nothing new for a live incident: nothing to wait for
        me = (finding, action_class, action)
        if finding.tier == "trace":  # corroborates nothing: it only waits to join an alert
            traces = self._traces.get(finding.principal)
            if traces is None:  # (not setdefault: no deque built and dropped per trace)
                traces = self._traces[finding.principal] = deque(maxlen=MAX_REMEMBERED)
            traces.append(me)
            return []
        waiting = self._live(finding)
        helpers = [w for w in waiting if _corroborates(me, w)]
        holds = [w for w in [me, *helpers] if w[0].tier == "hold"]
        if helpers and holds:
            opener = max(holds, key=lambda w: (severity_rank(w[0].severity), w[0].score))
            opened = self.book.merge(opener[0], opener[1], may_open=True)
            traces = self._traces.pop(finding.principal, deque())
            since = self._since(finding)
            rest = [
                (f, c)
                for f, c, _ in sorted(
                    [me, *waiting, *(t for t in traces if t[0].last_event_ms >= since)],
                    key=lambda w: w[0].first_event_ms,
                )
                if f is not opener[0]
            ]
            self._waiting.pop(finding.principal, None)
            return [opened, *(self.book.merge(f, c, may_open=False) for f, c in rest)]
        queue = self._waiting.setdefault(finding.principal, deque())
        if len(queue) >= MAX_REMEMBERED:
            _drop_one(queue)
        queue.append(me)
        return []

    def _since(self, finding: Finding) -> int:
        return finding.first_event_ms - self.window_ms

    def _live(self, finding: Finding) -> list[Waiting]:
        queue = self._waiting.get(finding.principal)
        if not queue:
            return []
        since = self._since(finding)
        return [w for w in queue if w[0].last_event_ms >= since]

    def _flush(self, principal: str, *, since: int) -> list[Change]:
        """An alert of this principal is open: its waiting findings join it as evidence."""
        queue = [*self._waiting.pop(principal, deque()), *self._traces.pop(principal, deque())]
        queue.sort(key=lambda w: w[0].first_event_ms)
        return [
            self.book.merge(f, c, may_open=False) for f, c, _ in queue if f.last_event_ms >= since
        ]

    def _in_incident(self, finding: Finding) -> bool:
        alert = self.book.current(finding.principal)
        return alert is not None and (
            finding.first_event_ms <= alert.last_event_ms + self.book.quiet_gap_ms
        )

    def expire(self, clock_of: Callable[[str], int], *, floor_ms: int) -> None:
        """Forget findings older than their principal's own latest event time minus the window
        (per principal, as AlertBook.expire explains), and everything before `floor_ms`."""
        for queues in (self._waiting, self._traces):
            for principal, queue in list(queues.items()):
                before = max(clock_of(principal) - self.window_ms, floor_ms)
                while queue and queue[0][0].last_event_ms < before:
                    queue.popleft()
                if not queue:
                    del queues[principal]

    def forget(self, principal: str) -> None:
        self._waiting.pop(principal, None)
        self._traces.pop(principal, None)

    def waiting(self, principal: str) -> list[Finding]:
        """The principal's findings waiting for corroboration (traces last)."""
        queues = (self._waiting.get(principal, ()), self._traces.get(principal, ()))
        return [f for queue in queues for f, _, _ in queue]


def _drop_one(queue: deque[Waiting]) -> None:
    """Make room: drop the oldest finding of a rule that has a newer one waiting (the newer
    carries the same evidence, later), else the oldest."""
    rules = [w[0].rule for w in queue]
    for i, rule in enumerate(rules):
        if rule in rules[i + 1 :]:
            del queue[i]
            return
    queue.popleft()


def _corroborates(mine: Waiting, theirs: Waiting) -> bool:
    """Independent evidence: another detector on another kind of call (two detectors on one
    call, or on repeats of the same call, are one piece of evidence). A trace corroborates
    nothing, nor does a finding that benign-twin context explains, nor does volume alone (more
    reads or deletes than usual) or the forest's score corroborate a twin, nor volume other
    volume: deleting one's own temporary resources on a day of heavy reading is a busy day,
    not two signs."""
    finding, other = mine[0], theirs[0]
    if other.rule == finding.rule or "trace" in (finding.tier, other.tier) or other.twin:
        return False
    if _volume(other) and (finding.twin or _volume(finding)):
        return False
    if {finding.rule, other.rule} & READ_VOLUME_RULES and (
        finding.explanation.get(CONSOLE_ONLY) or other.explanation.get(CONSOLE_ONLY)
    ):
        return False  # a person's first console day: its page views are the read volume
    if other.rule == FOREST_RULE and finding.twin:
        return False  # the forest scored the windows the twin's calls are in: the same story
        # (seed 937: an SRE deleting dev VPCs and their flow logs, the flow logs explained as
        # the deleted networks', paged on the forest's score of those deletions)
    if finding.twin and other.rule in _RESTATING:
        return False  # the context that excused it, counted again -- or another twin's: calls
        # in several regions say where a task works, which no twin's benign task is short of
        # (seed 1003: an admin's GuardDuty clean-up in unused regions, its "five regions in 10
        # minutes", corroborated the same admin's onboarding of a new hire)
    if finding.twin == YOUNG_TARGET and other.rule in SOURCE_RULES:
        return False  # tearing down what the caller just made, or what is named temporary,
        # loses nothing whoever holds the credentials: the sign-in's new network does not
        # corroborate it (fresh seed 1583: a person without MFA signed in from a new network
        # and deleted the scratch bucket she had made that hour -- paged high on the two). A
        # twin of a call with an effect of its own -- GuardDuty off in an unused region, a
        # user made and given a password -- still takes it (review)
    if CONTEXT_PREFIX in (finding.rule[: len(CONTEXT_PREFIX)], other.rule[: len(CONTEXT_PREFIX)]):
        if SOURCE_RULES & {finding.rule, other.rule}:
            return False  # a new network, said twice
        if finding.explanation.get(FROM_ELSEWHERE) or other.explanation.get(FROM_ELSEWHERE):
            return False  # ... or the new network and client the finding counted calls from
        if FROM_NEW_NETWORK & {finding.rule, other.rule} and _network_only(finding, other):
            return False  # ... or the network the finding counted calls from
        if _on_its_console_net(finding, other) or _on_its_console_net(other, finding):
            return False  # ... or the one a console session's listings were judged from
        if _RESTATING & {finding.rule, other.rule} and (
            finding.explanation.get(NEWS) == ["client"] or other.explanation.get(NEWS) == ["client"]
        ):
            return False  # a new tool, and where it works: an admin's new script (fresh seed
            # 1015: a GuardDuty clean-up through boto3 over five regions paged); a network
            # never used before is who holds the credentials, and still says so
        if _new_tool_only(finding, other) and any(
            _volume(f) or (f.rule == FOREST_RULE and severity_rank(f.severity) < _HIGH)
            for f in (finding, other)
        ):
            return False  # a person's new tool from their own network, and the volume it made
            # (fresh seed 1093: a developer's first Terraform run, 31 KMS decrypts and 314
            # reads in ten minutes from his usual network, paged critical on a baseline day)
            # or the unusual shape of the windows it ran in (fresh seed 1152: a person's first
            # boto3 script, its calls scored odd by the forest, paged on a baseline day) -- but
            # not a high forest score, far out of the person's shape (review: recon through a
            # new tool, refused everywhere, stays two signs)
        if _network_only(finding, other) and any(_marginal(f) for f in (finding, other)):
            return False  # a new network, the weakest second sign (people roam), and a count
            # at the edge of the principal's range: a busy evening at home, not two signs
            # (fresh seeds 1323, 1362: a developer's 101 reads against a bar of 100, a data
            # scientist's 374 against 373.75, each from a network new to them). The same
            # count past MARGIN times its bar still pages with it, at the event it gets there:
            # in 213 kept replays every true alert made of these two alone went past 1.4x
        # where the calls come from (a network the principal never used) is evidence apart
        # from what they do, even on the same calls: stolen keys sweeping or reading in bulk --
        # but not for a call its benign twin explains (a dev log group's retention, say)
        return not finding.twin
    different_call = not mine[2] or not theirs[2] or mine[2] != theirs[2]
    return different_call and not set(other.event_ids) & set(finding.event_ids)


def _new_tool_only(finding: Finding, other: Finding) -> bool:
    """Whether one of two findings of a person is a context note whose only news is the client,
    on a network they or their colleagues work from (KNOWN_NET: a network never used, that a
    roaming person's novelty share does not count as news, is not one -- review). A person's
    new tool at home or the office is the person trying a tool; for a workload or an agent,
    whose tooling is fixed and whose network may change every run, the client is what says
    someone else holds the credentials."""
    return finding.actor_kind == "human" and any(
        f.explanation.get(NEWS) == ["client"] and f.explanation.get(KNOWN_NET)
        for f in (finding, other)
    )


def _on_its_console_net(finding: Finding, note: Finding) -> bool:
    """`finding` was judged at a lower floor for coming from a console session's network
    (ON_CONSOLE_NET) and `note` says only that this network is new: its premise. A note of
    another network is evidence apart (review)."""
    net = finding.explanation.get(ON_CONSOLE_NET)
    ip = note.explanation.get("ip")
    return (
        bool(net)
        and note.explanation.get(NEWS) == ["net"]
        and isinstance(ip, str)
        and net_of(ip) == net
    )


def _network_only(finding: Finding, other: Finding) -> bool:
    """One of two findings is a context note whose only news is the network."""
    return finding.explanation.get(NEWS) == ["net"] or other.explanation.get(NEWS) == ["net"]


def _marginal(finding: Finding) -> bool:
    """A person's count of ordinary work (BUSY_COUNTS) whose every count is under MARGIN times
    its bar. Only people roam: for a workload or an AI agent a network new to it, that it
    rarely sees one of, is who holds its credentials (review: a pull held at 1.18x its bar
    would never page)."""
    if finding.rule not in BUSY_COUNTS or finding.actor_kind != "human":
        return False
    counts = [
        (count, bar)
        for value in finding.explanation.values()
        if isinstance(value, dict)
        and isinstance(count := value.get("value"), int | float)
        and isinstance(bar := value.get("threshold"), int | float)
        and bar > 0
    ]
    return bool(counts) and all(count < MARGIN * bar for count, bar in counts)


def _volume(finding: Finding) -> bool:
    """More of something than usual (VOLUME_RULES), or a count that rose with it (BUSY)."""
    return finding.rule in VOLUME_RULES or bool(finding.explanation.get(BUSY))
