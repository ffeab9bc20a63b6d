"""StoreSurge: a person or an AI agent reading, by the hundred, a store it reads a little of.

Stolen credentials take what their owner can reach, and their owner reads the stores that hold
the data worth taking: a person's backups bucket, the KYC exports a developer checks a few times
a day. Judged over all of a principal's reads, such a pull stays under its own highs (a data
scientist's busy hours on the lake are busier); judged per store it does not -- more in ten
minutes than STORE_DAY_RATIO times the most the principal ever read from that store in a whole
day. In 109 kept replays of the world generator, five people's and one agent's exfiltration that
every other check missed read 5-16x their busiest day of the store (held-out seeds 772, 1190,
1200, 1218, 1230, 1251), and no benign person's or agent's ten minutes reached 100 reads of one
store. Fresh seeds 1328, 1355 and 1363 were people's pulls paced at ~180 objects per ten minutes
for half an hour or more (546, 597 and 1,353 objects; 11-13x their busiest day of the bucket):
under the ten-minute bar, and nothing paged. So an hour is judged too, against its own bar:
HOUR_DAY_RATIO times the busiest day, at least HOUR_READS. Over an hour, in 201 kept replays,
every person's or agent's exfiltration that read 100 or more objects of one store read 10.9x or
more of its busiest day there, and no benign person's or agent's hour passed 1.5x; the floor
keeps an ordinary hour of reading a store one reads a dozen objects of a day quiet (review).
Workloads are not judged here: a quarter-end Glue batch reads 3-8x its busiest day of each lake
store, as a CI role's stolen session did (1246) -- their surges wait for a second sign
(detect.anomaly.collection). A table's reads count by item and by page, not by the table
(`_read`). From a network nobody else in the organisation works from, which the principal
first used in the last six hours, the ten-minute bar is NOWHERE_DAY_RATIO times the busiest
day: fresh seeds 1387 and 1422 were stolen keys pulling 258 and 327 objects of a bucket in a
minute or two from such networks (a Tor exit), 4.0x and 4.9x their owners' busiest days;
in the generator's records of seeds 1000-1013, 1200-1231 and 1300-1424 no benign person's or
agent's ten minutes on one store reached 100 reads at 2x its busiest day or more (workloads'
quarter-end batches did: not judged here). A person who sees a new network most days is not
judged by it (a new one is no news for them). A store's busiest day is known once it was read
on STORE_DAYS earlier days -- or at once when the principal only glanced at it (GLANCED): fresh
seed 1476's data scientist had opened one object of a production bucket on each of two days,
then her session read 411 of it in 23 minutes from her usual network and CLI (~180 per ten
minutes, under her ten-minute high over all her reads) and nothing paged; in the generator's
records of seeds 1345-1484 no benign person's or agent's ten minutes on a store read on an
earlier day passed max(100, 5x its busiest day); 34 incidents' did, five on a store read on one
or two days -- four of them at most three objects a day (1361, 1466 twice, 1476).
Part of BehaviourDetector.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from detect.anomaly.habit import WINDOW_MS, make_finding
from detect.anomaly.tally import Tally, paged_days
from detect.features import DAY_MS, NON_PROD_NAME_RE, PrincipalState, net_of, store_of
from detect.findings import FROM_ELSEWHERE, Finding
from detect.rules.record import field as lookup
from detect.rules.record import record_of
from ingest.events import AuditEvent

__all__ = ["StoreSurge"]

_SORTED = orjson.OPT_SORT_KEYS
_LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
_NON_PROD = re.compile(NON_PROD_NAME_RE)

RULE = "baseline:store_read_surge"
STORE_DAY_RATIO = 5.0  # reads in 10 min over this many times the busiest earlier day's ...
STORE_READS = 100  # ... and at least this many
STORE_DAYS = 3  # earlier days the principal read the store on: its days are known
# ... or at most this many a day, on days before today: the principal only glanced at it (an
# object opened in the console), and a pull of it is judged as one of a store it never read
# (secretreads' baseline:bulk_read_new_store), from the day after the glance on (_judged)
GLANCED = 3
# ... and one read on fewer earlier days, more than glanced at, is judged over ten minutes at
# this many times the most it read of it on any earlier day (at least STORE_READS): two days are
# too few to know a store's busiest day, but not to tell a pull from it (fresh seed 1562: a
# night-owl developer who had read 1 and 4 objects of a staging backups bucket on her two
# earlier days of it read 419 in 22 minutes, ~190 per ten minutes, from her usual network and
# CLI; in the generator's records of seeds 1445-1484 people's and agents' ten minutes on a
# store read on one or two earlier days reached at most 103 reads and 4.0x the most read there
# on an earlier day -- a coding agent's second day -- and the exfiltrations 190-198 at 97-190x)
YOUNG_DAY_RATIO = 20.0
# ... or, for a store read on STORE_DAYS earlier days, over this many times the most it read of
# it in any ten minutes of an earlier day, and PEAK_DAYS times its busiest day (at least
# STORE_READS): two days' worth in ten minutes, never read so fast before. A person who reads a
# store all day long, a few at a time, has a busiest day that hides a pull -- fresh seed 1617:
# an IAM user who read 50-75 objects a day of a production bucket, never more than 13 in ten
# minutes, read 168 of it in 11 minutes from his usual network and CLI (2.2x his busiest day,
# 13x his busiest ten minutes) and nothing paged. In the generator's records of seeds 1300-1345,
# people's and agents' ten minutes of 100 or more reads of one store read on an earlier day were
# benign only by CI agents' sessions, at most 2.6x their busiest earlier ten minutes there and
# 1.1x their busiest day; every exfiltration among them read 20x its busiest ten minutes or more
# (one under the bar of 5x the busiest day: 1328, 3.8x). Not for a store named as dev, staging
# or test (NON_PROD_NAME_RE): people copy their working data there in bulk (`aws s3 sync` of a
# prefix), which the generator's people never do (a review). The trade: a person who reads a
# production (or unnamed) store thinly all day and once downloads two days' worth of it in ten
# minutes pages -- once: a day that paged teaches the busiest ten minutes
PEAK_RATIO = 8.0
PEAK_DAYS = 2.0
HOUR_MS = 60 * 60 * 1000  # a pull paced under the ten-minute bar: reads in an hour ...
HOUR_DAY_RATIO = 8.0  # ... over this many times the busiest earlier day's ...
HOUR_READS = 200  # ... and at least this many
# stores busier than this on their busiest day are judged over ten minutes only: their hour's bar
# (2,000 and more) would hold an hour of a heavy reader's objects per store (review)
HOUR_BUSIEST = 250
# ... or this many times from a network nobody else in the organisation works from, and the
# principal first used within NOWHERE_NEW_MS, mature by then (PrincipalState.late_nets)
NOWHERE_DAY_RATIO = 2.5
NOWHERE_NEW_MS = 6 * HOUR_MS
NOWHERE_MEMORY_MS = DAY_MS  # ... by an organisation's network memory this old (a restart's is new)
PAGE_GAP_MS = 3_000  # the same table request again sooner: its next page, not a poll
MAX_STORES = 64  # stores remembered per principal (the least recently read forgotten)
MAX_FORGOTTEN = 256  # names of stores let go of, per principal (past it: none is glanced at)
KINDS = frozenset({"human", "agent"})
# buckets and tables (secrets and parameters are judged as credential sweeps: secretreads)
SOURCES = frozenset({"s3", "dynamodb"})


@dataclass(slots=True)
class _Store:
    """One principal's reads of one store: today's count, its busiest earlier day, the days it
    read the store on, and the last ten minutes' objects (and the last hour's, for a store
    judged (_judged) and read at most HOUR_BUSIEST on its busiest)."""

    day: int
    today: int = 0
    busiest: int = 0
    days: int = 0
    quiet: int = 0  # ... of which became its usual (not flagged): what `busiest` knows
    most: int = 0  # the most read on any earlier day, paged or not
    peak: int = 0  # today's most in ten minutes ...
    # ... and the most in ten minutes on any earlier day -- paged days too: a pull that paged
    # once is no longer "never read so fast" (review: a person's daily sync paged every day)
    peak_busiest: int = 0
    flagged: bool = False  # the principal paged today: today does not become its usual
    whole: bool = True  # remembered since its first read (_whole)
    yesterday: int = 0  # the day before `day`'s reads (late ones add to it); -1: it paged
    newest_ms: int = 0
    paged_slot: int = -1  # one finding per 10-minute slot while over the bar
    request: str = ""  # the last table request (its digest) and when it came: _read
    request_ms: int = 0
    window: Tally = field(default_factory=lambda: Tally(WINDOW_MS))
    hour: Tally | None = None


def _paged(known: _Store) -> str:
    """The earlier days that paged, which its busiest day leaves out (review: "at most 1 ... (2
    days)" where one of the two read 150)."""
    paged = known.days - known.quiet
    return f", {paged} of them paged, read up to {known.most:g}" if paged > 0 else ""


def _judged(known: _Store) -> bool:
    """Whether the store's days are known well enough to judge its reads: read on STORE_DAYS
    earlier days, or only glanced at -- never more than GLANCED on any earlier day, paged or not
    (reviews: a day that paged does not become the busiest, and a new bucket's first pull,
    paged and resolved, then looked like a glance and the same daily job paged every day), on
    at least one that became its usual, and remembered since its first read (_whole)."""
    if known.days >= STORE_DAYS:
        return True
    return known.whole and known.quiet > 0 and known.most <= GLANCED


def _young(known: _Store) -> bool:
    """Read on fewer than STORE_DAYS earlier days, at least one of them its usual, and
    remembered since its first read: judged at YOUNG_DAY_RATIO (when not _judged)."""
    return known.whole and known.quiet > 0 and 0 < known.days < STORE_DAYS


class StoreSurge:
    """Per person or AI agent and store: reads in ten minutes and in an hour against its
    busiest day there."""

    def __init__(self, nowhere: Callable[[PrincipalState, AuditEvent], bool] | None = None) -> None:
        """`nowhere(state, event)`: the read came from a network nobody in the organisation
        works from (asked only of a count past the lower bar, NOWHERE_DAY_RATIO)."""
        self._stores: dict[str, dict[str, _Store]] = {}
        self._began: dict[str, int] = {}  # principal -> the day memory of its stores began
        self._forgotten: dict[str, set[str]] = {}  # principal -> stores MAX_STORES let go of
        self._paged: dict[str, tuple[int, ...]] = {}  # principal -> days it paged (paged_days)
        self._nowhere = nowhere

    def observe(self, state: PrincipalState, event: AuditEvent) -> Finding | None:
        """Count `event` (a successful call) if it read data from a bucket or a table."""
        if state.actor_kind not in KINDS or event.source.partition(".")[0] not in SOURCES:
            return None
        if event.source_ip.endswith(".amazonaws.com"):
            return None  # Athena or Redshift reading for the person: a query, not a pull (review)
        store = store_of(event)
        if not store:
            return None
        at = event.event_time_ms
        day = at // DAY_MS
        stores = self._stores.setdefault(state.key, {})
        known = stores.pop(store, None)  # (re-inserted last: the dict keeps recency order)
        if known is None:
            known = _Store(
                day,
                whole=self._whole(state.key, store, day),
                flagged=day in self._paged.get(state.key, ()),
            )
            if len(stores) >= MAX_STORES:
                oldest = next(iter(stores))
                self._forgot(state.key, oldest)
                del stores[oldest]
        stores[store] = known
        if day > known.day:
            if known.today and not known.flagged:
                known.busiest = max(known.busiest, known.today)
                known.quiet += 1
            known.peak_busiest = max(known.peak_busiest, known.peak)
            known.most = max(known.most, known.today)
            known.days += known.today > 0
            if day > known.day + 1:
                known.yesterday = 0  # (no reads of it yet: late ones may come)
            else:
                known.yesterday = -1 if known.flagged else known.today
            known.day, known.today, known.peak = day, 0, 0
            known.flagged = day in self._paged.get(state.key, ())
        if day == known.day:
            known.today += 1
        elif (
            day == known.day - 1
            and known.yesterday >= 0
            and day not in self._paged.get(state.key, ())
        ):
            # the day before, delivered after a read of today (an evening's reads late across
            # midnight): it still counts toward the busiest day (review: 120 objects read before
            # midnight left a glanced store's busiest at 1, and the next day's 150 paged)
            if not known.yesterday:
                known.days += 1
                known.quiet += 1
            known.yesterday += 1
            known.busiest = max(known.busiest, known.yesterday)
            known.most = max(known.most, known.yesterday)
            # its ten minutes are not counted late: all of the day's reads may have been one
            # (review: a nightly 60 read before midnight and delivered after it left the
            # busiest ten minutes at 1, and a pull of 130 paged at that bar)
            known.peak_busiest = max(known.peak_busiest, known.yesterday)
        if at <= known.newest_ms - WINDOW_MS:
            return None  # a late read of an older window: it cannot join the current ten
            # minutes (review: a delayed batch of a morning's reads made a surge of its own)
        known.newest_ms = max(known.newest_ms, at)
        # an object read again counts once: a notebook polling one file is no pull (review) --
        # and it raises nothing new: a re-read after a pull is not more of it (review)
        thing = _read(known, event)
        hour = known.hour
        judged = _judged(known)
        young = not judged and _young(known)
        if not judged or known.busiest > HOUR_BUSIEST:
            hour = known.hour = None
        elif hour is None:
            hour = known.hour = Tally(HOUR_MS)
        new = thing not in (hour.keys if hour is not None else known.window.keys)
        count = known.window.add(at, event.event_id, thing)
        if day == known.day:
            known.peak = max(known.peak, int(count))
        hourly = hour.add(at, event.event_id, thing) if hour is not None else 0.0
        by_peak = False  # the bar is the busiest ten minutes' (the lower one)
        if young:  # (ten minutes only: no hour, no lower bar)
            bar = max(float(STORE_READS), YOUNG_DAY_RATIO * known.most)
        else:
            bar = max(float(STORE_READS), STORE_DAY_RATIO * known.busiest)
            if known.days >= STORE_DAYS and known.peak_busiest and not _NON_PROD.search(store):
                peak_bar = max(
                    float(STORE_READS),
                    PEAK_RATIO * known.peak_busiest,
                    PEAK_DAYS * known.busiest,
                )
                if peak_bar < bar:
                    bar, by_peak = peak_bar, True
        hour_bar = max(float(HOUR_READS), HOUR_DAY_RATIO * known.busiest)
        fast = count > bar
        if not (judged or young) or not state.mature or not new:
            return None
        where = ""
        if judged and self._nowhere is not None:
            low = max(float(STORE_READS), NOWHERE_DAY_RATIO * known.busiest)
            if count > low and (not fast or by_peak) and self._nowhere(state, event):
                # (past the busiest ten minutes' bar too: where it came from still counts, as
                # corroboration does -- review)
                where = ", from a network nobody here works from"
                if not fast:
                    bar, fast, by_peak = low, True, False
        if not fast and not hourly > hour_bar:
            return None
        slot = at // WINDOW_MS
        if slot == known.paged_slot:
            return None  # (one finding per ten minutes: the alert holds the pull already)
        known.paged_slot = slot
        window = known.window if fast or hour is None else hour
        explanation: dict[str, Any] = {
            "store_reads_10m": {"value": count, "baseline": known.busiest, "threshold": bar}
        }
        busiest_ten = ""
        if fast and by_peak:
            explanation["store_reads_10m"]["busiest_10m"] = known.peak_busiest
            busiest_ten = f", and at most {known.peak_busiest:g} in any ten minutes"
        if where:
            explanation[FROM_ELSEWHERE] = net_of(event.source_ip)
        if hour is not None:
            explanation["store_reads_1h"] = {
                "value": hourly,
                "baseline": known.busiest,
                "threshold": hour_bar,
            }
        return make_finding(
            state,
            event,
            RULE,
            "high",
            f"{count if fast else hourly:g} objects or items read in "
            f"{'10 min' if fast else 'an hour'} from {store}, which this principal read at most "
            f"{known.busiest:g} of in a day before ({known.days} "
            f"day{'s' if known.days != 1 else ''}{_paged(known)}){busiest_ten}{where}",
            ids=window.ids(),
            first_ms=window.first_ms(),
            explanation={**explanation, "store": store, "store_days": known.days},
        )

    def mark_flagged(self, principal: str, time_ms: int) -> None:
        """The principal paged at `time_ms`: that day's reads do not become a store's busiest
        day -- those of stores read that day so far, and of any it reads later that day (review:
        a page before the day's first read flagged the day before, and the paged day taught)."""
        day = time_ms // DAY_MS
        self._paged[principal] = paged_days(self._paged.get(principal, ()), day)
        for known in self._stores.get(principal, {}).values():
            if known.day == day:
                known.flagged = True

    def _whole(self, principal: str, store: str, day: int) -> bool:
        """Whether a store read for the first time since memory of the principal's stores began
        is remembered since its first read: not on the day that memory began (after a restart
        or `forget` the principal comes back mature with no stores known -- review: the first
        day's partial count made a notebook's daily store look glanced at), nor one forgotten
        for MAX_STORES (review: the lake read 300 times a day came back as a one-object day)."""
        began = self._began.setdefault(principal, day)
        forgotten = self._forgotten.get(principal)
        if forgotten is not None and (store in forgotten or len(forgotten) > MAX_FORGOTTEN):
            return False  # (past MAX_FORGOTTEN, any store may be one forgotten)
        return day > began

    def _forgot(self, principal: str, store: str) -> None:
        forgotten = self._forgotten.setdefault(principal, set())
        if len(forgotten) <= MAX_FORGOTTEN:
            forgotten.add(store)

    def forget(self, principal: str) -> None:
        self._stores.pop(principal, None)
        self._began.pop(principal, None)
        self._paged.pop(principal, None)
        self._forgotten.pop(principal, None)


def _read(known: _Store, event: AuditEvent) -> str:
    """What one read took, counted once however often it is read again: an object (its ARN), a
    table item (GetItem's key) -- or a table request (a Query, a Scan, a statement, a batch),
    which names no item: the same request again within PAGE_GAP_MS is its next page (an SDK's
    paginator sends them back to back, and CloudTrail may log every page alike) and counts
    again; again later, a poll, it does not. (Counted by the table's ARN, a DynamoDB dump
    stayed at one read: the surge never fired on a table.)"""
    if not event.source.startswith("dynamodb"):
        return event.resources[0] if event.resources else event.event_id
    params = lookup(record_of(event), "requestParameters")
    if event.action == "GetItem":
        key = lookup(params, "key")
        if key:
            return "item " + _digest(key)
    statement = lookup(params, "statement")
    if isinstance(statement, str):  # PartiQL: its literals (a key, a moving time) left out
        params = _LITERALS.sub("?", statement)
    request, at = _digest(params), event.event_time_ms
    page = request == known.request and 0 <= at - known.request_ms < PAGE_GAP_MS
    known.request, known.request_ms = request, at
    return event.event_id if page else request


def _digest(value: object) -> str:
    """A short fixed-size name of a request's parameters (a tally holds it for an hour)."""
    data = value.encode() if isinstance(value, str) else orjson.dumps(value, option=_SORTED)
    return hashlib.blake2b(data, digest_size=12).hexdigest()
