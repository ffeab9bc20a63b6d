"""Training history read in SQL: per-principal minute buckets, churn and first-seen values."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from detect.features import (
    CREATE_ACTION_RE,
    DATA_READ_ACTIONS,
    EPHEMERAL_NAME_RE,
    GRANT_ACTIONS,
    IPV6_PREFIX,
    ITEM_DELETES,
    MAX_BUCKET_NAMES,
    MAX_SEEN,
    PROD_RESOURCE_RE,
    SEEN_DIMENSIONS,
    WORK_HOURS_UTC,
    Bucket,
)
from ingest import schema
from ingest.store import Store

__all__ = [
    "PrincipalHistory",
    "build_history",
    "history_tables",
    "latest_event_ms",
    "load_history",
]

logger = logging.getLogger(__name__)


_RANGE = (
    "event_time >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') "
    "AND event_time < fromUnixTimestamp64Milli({until:Int64}, 'UTC')"
)
_NAMES = "arrayMap(r -> replaceRegexpOne(r, '^.*[/:]', ''), resources)"
_OFFHOURS = (
    "(toDayOfWeek(event_time) >= 6 OR toHour(event_time) < {h0:UInt8} "
    "OR toHour(event_time) >= {h1:UInt8})"
)
_SERVICE = (
    "if(endsWith(source, '.amazonaws.com'), substring(source, 1, length(source) - 14), source)"
)
_DATA_READ = (  # detect.features.bucket.is_data_read; the names are constants, not user input
    f"error_code = '' AND concat({_SERVICE}, ':', toString(action)) IN ("
    + ", ".join(f"'{service}:{action}'" for service, action in sorted(DATA_READ_ACTIONS))
    + ")"
)
# detect.features.net_of, client_of and store_of, in SQL (the seen dimensions of training)
_NET = (
    "if(match(source_ip, '^[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+$'), "
    "concat(arrayStringConcat(arraySlice(splitByChar('.', source_ip), 1, 2), '.'), '.0.0/16'), "
    "if(isIPv6String(source_ip) AND tupleElement(IPv6CIDRToRange(toIPv6OrDefault(source_ip), "
    "96), 1) != toIPv6('::ffff:0.0.0.0'), "  # not IPv4-mapped
    "concat(toString(tupleElement(IPv6CIDRToRange(toIPv6OrDefault(source_ip), "
    f"{IPV6_PREFIX}), 1)), '/{IPV6_PREFIX}'), ''))"
)
_CLIENT = (
    "lower(substringUTF8(splitByChar('/', splitByChar(' ', "
    "trimLeft(trimBoth(user_agent), '['))[1])[1], 1, 40))"
)
_STORE = (
    f"if(empty(resources) OR NOT ({_DATA_READ}), '', "
    "if(startsWith(resources[1], 'arn:aws:s3:::'), "
    "splitByChar('/', substring(resources[1], 14))[1], "
    "if(position(resources[1], ':table/') > 0, "
    "splitByChar('/', splitByString(':table/', resources[1])[2])[1], "
    "splitByChar('/', resources[1])[1])))"
)
_BUCKETS_SQL = f"""
SELECT principal_key, intDiv(toUnixTimestamp64Milli(event_time), 60000) AS minute,
    count(), countIf(action_class = 'destructive'), countIf(action_class = 'privilege'),
    countIf(action_class = 'defense_evasion'), countIf(action_class != 'read'),
    countIf(error_code != ''), countIf({_OFFHOURS}), countIf(match(action, {{create:String}})),
    countIf(action_class = 'destructive'
            AND arrayExists(r -> match(r, {{prod:String}}), resources)),
    countIf({_DATA_READ}),
    groupUniqArrayArray({MAX_BUCKET_NAMES})({_NAMES}), groupUniqArray(region),
    countIf(action_class = 'destructive' AND error_code = ''
            AND action NOT IN {{items:Array(String)}}
            AND NOT arrayExists(r -> match(r, {{eph:String}}), resources))
FROM {schema.EVENTS} FINAL WHERE {_RANGE}
GROUP BY principal_key, minute ORDER BY principal_key, minute"""
_CHURN_SQL = f"""
SELECT principal_key, intDiv(t, 60000) AS minute, name,
    minIf(t, action_class = 'destructive'), maxIf(t, created)
FROM (SELECT principal_key, toUnixTimestamp64Milli(event_time) AS t, action_class,
        match(action, {{create:String}}) AS created, arrayJoin(arrayDistinct({_NAMES})) AS name
      FROM {schema.EVENTS} FINAL
      WHERE {_RANGE} AND (action_class = 'destructive' OR match(action, {{create:String}})))
GROUP BY principal_key, minute, name"""
# the first-seen values; "signin" is how the latest successful console sign-in was made (MFA or
# not: OrgMemory.signed_in_without_mfa), read from the raw record of the ConsoleLogin rows only
# -- without FINAL, which keeps ClickHouse from moving the action filter to PREWHERE and made it
# decompress every event's record (review); a replayed duplicate changes no latest value
_SEEN_SQL = f"""
SELECT * FROM (
SELECT principal_key, d.1 AS dim, d.2 AS value, intDiv(min(t), 60000) AS minute
FROM (SELECT principal_key, toUnixTimestamp64Milli(event_time) AS t,
        arrayJoin([('action', toString(action)), ('service', toString(source)),
                   ('region', toString(region)), ('ip', source_ip),
                   ('destructive', if(action_class = 'destructive' AND error_code = '',
                                      toString(action), '')),
                   ('sensitive', if(action_class IN ('privilege', 'defense_evasion')
                                    AND error_code = '', toString(action), '')),
                   ('prod', if((action_class = 'destructive'
                                OR toString(action) IN {{grants:Array(String)}})
                               AND error_code = ''
                               AND arrayExists(r -> match(r, {{prod:String}}), resources),
                               toString(action), '')),
                   ('net', {_NET}), ('client', {_CLIENT}), ('store', {_STORE})]) AS d
      FROM {schema.EVENTS} FINAL WHERE {_RANGE})
WHERE NOT (d.1 IN ('destructive', 'sensitive', 'prod', 'net', 'client', 'store') AND d.2 = '')
GROUP BY principal_key, d
UNION ALL
SELECT principal_key, 'signin' AS dim,
    argMax(if(lower(JSONExtractString(raw, 'additionalEventData', 'MFAUsed')) = 'no',
              'no-mfa', 'mfa'), event_time),
    intDiv(toUnixTimestamp64Milli(max(event_time)), 60000)
FROM {schema.EVENTS}
WHERE {_RANGE} AND action = 'ConsoleLogin' AND error_code = ''
    AND JSONExtractString(raw, 'responseElements', 'ConsoleLogin') != 'Failure'
GROUP BY principal_key)
ORDER BY principal_key, minute, value"""
_KIND_SQL = f"""
SELECT principal_key, topK(1)(actor_kind)[1] FROM {schema.EVENTS} FINAL WHERE {_RANGE}
GROUP BY principal_key"""
_NEW_FIELD = {
    "action": "new_action",
    "service": "new_service",
    "region": "new_region",
    "ip": "new_ip",
    "destructive": "new_destructive",
    "sensitive": "new_sensitive",
}  # "prod" has no bucket counter: it only seeds the streaming first-seen check


@dataclass
class PrincipalHistory:
    """One principal's stored history as minute buckets (ascending) and first-seen values."""

    key: str
    actor_kind: str
    buckets: list[Bucket] = field(default_factory=list)
    seen: dict[str, list[str]] = field(default_factory=dict)
    # per dimension: the days after the principal's first that brought a new value
    novel_days: dict[str, int] = field(default_factory=dict)


PART_EVENTS = 500_000  # stored events per history query part (see history_tables)
_QUERIES = {"kinds": _KIND_SQL, "buckets": _BUCKETS_SQL, "churn": _CHURN_SQL, "seen": _SEEN_SQL}
Rows = Sequence[tuple[Any, ...]]


def load_history(store: Store, *, since_ms: int, until_ms: int) -> Iterator[PrincipalHistory]:
    """Stored events in [since_ms, until_ms) as per-principal minute buckets, built in SQL.

    The bucket counts, names, churn times and first-seen counts are the same quantities
    `PrincipalState.observe` accumulates while streaming.
    """
    params = _params(since_ms, until_ms)
    return build_history({name: store.query(sql, params) for name, sql in _QUERIES.items()})


def history_tables(
    store: Store, *, since_ms: int, until_ms: int, part_events: int | None = None
) -> Iterator[dict[str, pa.Table]] | None:
    """load_history's query results as Arrow tables, for a store that answers in Arrow (chDB
    runs the SQL without the GIL; turning 50k rows of arrays into Python objects holds it for
    seconds, so that part belongs to whichever process fits). None for other stores.

    One dict of tables per part of the principals (by a hash of the key, every principal's
    rows in one part), a part per `part_events` stored events: the queries' group-by state
    for millions of events took GBs of the store's memory at once."""
    query_arrow = getattr(store, "query_arrow", None)
    if query_arrow is None:
        return None
    params = _params(since_ms, until_ms)
    events = store.query(f"SELECT count() FROM {schema.EVENTS} WHERE {_RANGE}", params)[0][0]
    parts = max(1, -(-int(events) // (part_events or PART_EVENTS)))
    return (
        {
            name: query_arrow(sql.replace(_RANGE, _part(part, parts)), params)
            for name, sql in _QUERIES.items()
        }
        for part in range(parts)
    )


def _part(part: int, parts: int) -> str:
    if parts == 1:
        return _RANGE
    return f"{_RANGE} AND cityHash64(principal_key) % {parts} = {part}"


def _params(since_ms: int, until_ms: int) -> dict[str, Any]:
    return {
        "since": since_ms,
        "until": until_ms,
        "create": CREATE_ACTION_RE,
        "prod": PROD_RESOURCE_RE,
        "eph": EPHEMERAL_NAME_RE,
        "items": sorted(ITEM_DELETES),
        "grants": sorted(GRANT_ACTIONS),
        "h0": WORK_HOURS_UTC[0],
        "h1": WORK_HOURS_UTC[1],
    }


def build_history(rows: Mapping[str, Rows]) -> Iterator[PrincipalHistory]:
    """Per-principal histories from the rows of load_history's queries."""
    kinds = {str(k): str(v) for k, v in rows["kinds"]}
    by_key: dict[str, PrincipalHistory] = {}
    index: dict[tuple[str, int], Bucket] = {}
    for row in rows["buckets"]:
        key, minute = str(row[0]), int(row[1])
        item = by_key.get(key)
        if item is None:
            item = by_key[key] = PrincipalHistory(key, kinds.get(key, "human"))
        n, destructive, privilege, evasion, writes, errors, offhours, creates, prod, data = (
            int(v) for v in row[2:12]
        )
        bucket = Bucket(
            minute,
            n=n,
            destructive=destructive,
            privilege=privilege,
            evasion=evasion,
            writes=writes,
            errors=errors,
            offhours=offhours,
            creates=creates,
            prod_destructive=prod,
            data_reads=data,
            resources=set(row[12]),
            regions=set(row[13]),
            lasting_destructive=int(row[14]),
        )
        item.buckets.append(bucket)
        index[(key, minute)] = bucket
    for key, minute, name, deleted, created in rows["churn"]:
        target = index.get((str(key), int(minute)))
        if target is not None:
            target.add_churn(str(name), delete_ms=int(deleted), create_ms=int(created))
    new_days: dict[tuple[str, str], set[int]] = {}
    for key, dim, value, minute in rows["seen"]:
        item = by_key.get(str(key))
        target = index.get((str(key), int(minute)))
        if item is None or target is None:
            continue
        day = int(minute) // 1440
        if day > item.buckets[0].minute // 1440:
            new_days.setdefault((item.key, str(dim)), set()).add(day)
        values = item.seen.setdefault(str(dim), [])
        if len(values) < MAX_SEEN:
            values.append(str(value))
            name = _NEW_FIELD.get(str(dim))
            if name is not None:
                setattr(target, name, getattr(target, name) + 1)
    for (key, dim), days in new_days.items():
        by_key[key].novel_days[dim] = len(days)
    for item in by_key.values():
        for dim in SEEN_DIMENSIONS:
            item.seen.setdefault(dim, [])
        yield item


def latest_event_ms(store: Store) -> int:
    """Event time of the newest stored event (0 when there is none)."""
    rows = store.query(f"SELECT max(toUnixTimestamp64Milli(event_time)) FROM {schema.EVENTS}")
    return int(rows[0][0] or 0) if rows else 0
