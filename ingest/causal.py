"""The causal join: an agent's tool call and the cloud events it caused.

A tool call (source `tool:<runtime>`, from OTLP or `POST /v1/events`) and the CloudTrail,
Kubernetes or other events its command made are joined two ways:

- **exactly**, when the agent propagates the call's id: as its AWS session name
  (`AssumeRole(RoleSessionName=<call id>)`) or in its SDK's user agent as `leash-call/<call id>`
  (boto3: `Config(user_agent_extra="leash-call/" + call_id)`; the AWS CLI:
  `AWS_SDK_UA_APP_ID=leash-call/<call id>`); CloudTrail records both;
- **by time**, otherwise: events of the same principal (the tool span's `leash.principal` is the
  role the agent runs as) from the call's start to its end plus JOIN_SLACK_MS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from ingest import schema
from ingest.catalogue.tools import is_tool_source
from ingest.store import Store

__all__ = [
    "CALL_MARK",
    "alert_story",
    "call_duration_ms",
    "call_id_of",
    "cause_of",
    "caused_by",
    "same_actor",
]

CALL_MARK = "leash-call/"
JOIN_SLACK_MS = 2_000  # a call's last API request is logged a moment after its span ends
# CloudTrail's eventTime is whole seconds: a request in a call's first second can be logged up
# to a second before the call's (millisecond) start
EARLY_MS = 1_000
# (at most 500 events are listed for one call)
STORY_LOOKBACK_MS = 3_600_000  # tool calls this long before an alert's first event may cause it
MAX_STORY_CALLS = 200  # tool calls listed in one alert's story
_MARKED = re.compile(re.escape(CALL_MARK) + r"([\w.:-]{4,128})")
_ID = re.compile(r"^[\w.:-]{4,128}$")
_SESSION = re.compile(r":assumed-role/[^/]+/[^/]+$")  # an STS session ARN (role and session)
_FIELDS = (
    "event_id, principal_key, source, action, action_class, toUnixTimestamp64Milli(event_time)"
)


def call_id_of(event: Mapping[str, Any]) -> str:
    """The tool call id a cloud event carries (user agent mark, or a session named after it)."""
    marked = _MARKED.search(str(event.get("user_agent") or ""))
    if marked:
        return marked.group(1)
    session = str(event.get("principal") or "").rpartition("/")[2]
    return session if session.startswith(("toolu_", "call_")) and _ID.match(session) else ""


def same_actor(call_principal: str, event_principal: str) -> bool:
    """Whether a time window may tie an event to a call: a call reported for a role (or any
    identity without an AWS session) covers every session of it; a call reported for one
    session covers that session only -- the role's other sessions at that moment are other
    agents, jobs or people sharing the role."""
    if _SESSION.search(call_principal) is None:
        return True
    return call_principal == event_principal


def call_duration_ms(value: Any) -> int:
    """A tool call's reported durationMs, bounded to [0, one day] (0 when it has none)."""
    return min(max(value, 0), 86_400_000) if isinstance(value, int) else 0


def _field(record: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(record, Mapping):
            return None
        record = record.get(key)
    return record


def _row(values: tuple[Any, ...]) -> dict[str, Any]:
    names = ("event_id", "principal_key", "source", "action", "action_class", "event_time_ms")
    return dict(zip(names, values[:6], strict=True))


def caused_by(store: Store, tool_call: Mapping[str, Any]) -> dict[str, Any]:
    """The events a tool call caused: {"how": "call id" | "time window", "events": [...]}."""
    raw = orjson.loads(tool_call["raw"])
    call_id = str(_field(raw, "requestParameters", "toolCallId") or "")
    start = int(tool_call["event_time_ms"])
    if call_id and _ID.match(call_id):
        exact = store.query(
            f"SELECT {_FIELDS} FROM {schema.EVENTS} FINAL "
            "WHERE NOT startsWith(source, 'tool') AND event_time >= "
            "fromUnixTimestamp64Milli({start:Int64}) - INTERVAL 1 HOUR "
            "AND (position(user_agent, {mark:String}) > 0 "
            "OR endsWith(principal, {session:String})) ORDER BY event_time LIMIT {n:UInt32}",
            {"start": start, "mark": CALL_MARK + call_id, "session": f"/{call_id}", "n": 500},
        )
        if exact:
            return {"how": "call id", "call_id": call_id, "events": [_row(r) for r in exact]}
    duration = call_duration_ms(_field(raw, "additionalEventData", "durationMs"))
    window = store.query(
        f"SELECT {_FIELDS}, principal FROM {schema.EVENTS} FINAL "
        "WHERE principal_key = {key:String} AND NOT startsWith(source, 'tool') "
        "AND event_time >= fromUnixTimestamp64Milli({start:Int64}) "
        "AND event_time <= fromUnixTimestamp64Milli({end:Int64}) "
        "ORDER BY event_time LIMIT {n:UInt32}",
        {
            "key": tool_call["principal_key"],
            "start": start - EARLY_MS,
            "end": start + duration + JOIN_SLACK_MS,
            "n": 500,
        },
    )
    caller = str(tool_call.get("principal") or "")
    return {
        "how": "time window",
        "call_id": call_id,
        "events": [_row(r) for r in window if same_actor(caller, str(r[6]))],
    }


def cause_of(store: Store, event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The tool call behind a cloud event, or None: {"how", "tool_call"}."""
    if is_tool_source(str(event.get("source") or "")):
        return None
    at = int(event["event_time_ms"])
    call_id = call_id_of(event)
    if call_id:
        rows = store.query(
            f"SELECT {_FIELDS} FROM {schema.EVENTS} FINAL WHERE startsWith(source, 'tool') "
            "AND JSONExtractString(raw, 'requestParameters', 'toolCallId') = {id:String} "
            "AND event_time <= fromUnixTimestamp64Milli({at:Int64}) + INTERVAL 1 MINUTE "
            "ORDER BY event_time DESC LIMIT 1",
            {"id": call_id, "at": at},
        )
        if rows:
            return {"how": "call id", "tool_call": _row(rows[0])}
    principal = str(event.get("principal") or "")
    rows = store.query(
        f"SELECT {_FIELDS}, principal FROM {schema.EVENTS} FINAL "
        "WHERE principal_key = {key:String} AND startsWith(source, 'tool') "
        "AND event_time <= fromUnixTimestamp64Milli({at:Int64} + {early:Int64}) "
        "AND event_time >= fromUnixTimestamp64Milli({at:Int64}) - INTERVAL 1 HOUR "
        "AND toUnixTimestamp64Milli(event_time) "
        "+ JSONExtractInt(raw, 'additionalEventData', 'durationMs') + {slack:Int64} >= {at:Int64} "
        "ORDER BY principal = {principal:String} DESC, event_time DESC LIMIT {n:UInt32}",
        {
            "key": event["principal_key"],
            "principal": principal,
            "at": at,
            "slack": JOIN_SLACK_MS,
            "early": EARLY_MS,
            "n": MAX_STORY_CALLS,
        },
    )
    running = [r for r in rows if same_actor(str(r[6]), principal)]
    return {"how": "time window", "tool_call": _row(running[0])} if running else None


def alert_story(
    store: Store, principal_key: str, event_ids: Sequence[str], first_ms: int, last_ms: int
) -> dict[str, Any] | None:
    """An alert's events grouped by the tool call behind each (None when the principal
    reported no tool call around the alert): {"tool_calls": [{"tool_call", "how", "events"}],
    "without_tool_call": [event ids]} -- "tool call X at T -> these N cloud events".

    Two queries, whatever the alert's size: the principal's tool calls from STORY_LOOKBACK_MS
    before the alert to its end, and the alert's own events; the join is the one `cause_of`
    makes (a reported call id first, else the call running at the event's time).
    """
    calls = store.query(
        f"SELECT {_FIELDS}, JSONExtractString(raw, 'requestParameters', 'toolCallId'), "
        "JSONExtractInt(raw, 'additionalEventData', 'durationMs'), principal "
        f"FROM {schema.EVENTS} FINAL WHERE principal_key = {{key:String}} "
        "AND startsWith(source, 'tool') "
        "AND event_time >= fromUnixTimestamp64Milli({start:Int64}) "
        "AND event_time <= fromUnixTimestamp64Milli({end:Int64}) "
        "ORDER BY event_time LIMIT {n:UInt32}",
        {
            "key": principal_key,
            "start": first_ms - STORY_LOOKBACK_MS,
            "end": last_ms,
            "n": MAX_STORY_CALLS,
        },
    )
    if not calls:
        return None
    events = store.query(
        "SELECT event_id, principal, user_agent, toUnixTimestamp64Milli(event_time) "
        f"FROM {schema.EVENTS} FINAL WHERE event_id IN {{ids:Array(String)}} "
        "AND NOT startsWith(source, 'tool') ORDER BY event_time",
        {"ids": list(event_ids)},
    )
    by_id = {str(c[6]): i for i, c in enumerate(calls) if c[6]}
    caused: dict[int, list[str]] = {}
    hows: dict[int, str] = {}
    alone = []
    for event_id, principal, user_agent, at in events:
        marked = call_id_of({"user_agent": user_agent, "principal": principal})
        index = by_id.get(marked) if marked else None
        how = "call id"
        if index is None:
            how = "time window"
            running = [
                i
                for i, c in enumerate(calls)
                if c[5] - EARLY_MS <= at <= c[5] + call_duration_ms(int(c[7])) + JOIN_SLACK_MS
                and same_actor(str(c[8]), str(principal))
            ]
            exact = [i for i in running if calls[i][8] == principal]  # its own session first
            index = (exact or running)[-1] if running else None
        if index is None:
            alone.append(str(event_id))
            continue
        caused.setdefault(index, []).append(str(event_id))
        hows.setdefault(index, how)
    return {
        "tool_calls": [
            {"tool_call": _row(calls[i]), "how": hows[i], "events": ids}
            for i, ids in sorted(caused.items())
        ],
        "without_tool_call": alone,
    }
