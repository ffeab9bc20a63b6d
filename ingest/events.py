"""AuditEvent, CloudTrail normalisation (raw record -> canonical columns) and bus encoding."""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

import orjson

from ingest.catalogue import Catalogue, default_catalogue
from ingest.catalogue.k8s import is_k8s_source, k8s_catalogue
from ingest.catalogue.tools import is_tool_source, redact_arguments, tool_catalogue
from ingest.identity import IdentityRules, build_identity_rules

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_FIELDS",
    "HEADER_FIELDS",
    "SCHEMA_VERSION",
    "AuditEvent",
    "Origin",
    "Normalizer",
    "RecordError",
    "decode_event",
    "encode_event",
    "header_of",
]

SCHEMA_VERSION = 2  # 2: origin and trusted (a version-1 bus record decodes as trusted)
MAX_RESOURCES = 32  # per event; enough for batch deletes without letting one record explode
_RESOURCE_KEY_SUFFIXES = (
    "name",
    "id",
    "arn",
    "identifier",
    "bucket",
    "key",
    "ids",
    "names",
    "arns",
)
_RESOURCE_KEY_EXCLUDE = frozenset(
    {
        "accesskeyid",
        "requestid",
        "sharedeventid",
        "principalid",
        "accountid",
        "keyid_encryption",
        "clienttoken",
        "nexttoken",
        "marker",
        "vpcendpointid",
        "sessionname",
        "rolesessionname",
        "externalid",
        "serialnumber",
        "tokencode",
        "sourceidentity",
        "keyspec",
        "keyusage",
    }
)


class RecordError(ValueError):
    """A record that cannot be accepted; the message names the problem."""


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One normalised audit event; `raw` is the record exactly as received (JSON text)."""

    event_id: str
    event_time_ms: int
    principal: str
    principal_key: str
    actor_kind: str
    account: str
    region: str
    source: str
    action: str
    action_class: str
    resources: tuple[str, ...]
    error_code: str
    source_ip: str
    user_agent: str
    raw: str
    origin: str = ""  # how it arrived: "<channel>:<key name>" (http, firehose...), "sqs:<queue>"
    trusted: bool = True  # whether automatic response may act on it (Origin.trusted)
    schema_version: int = SCHEMA_VERSION


@dataclass(frozen=True, slots=True)
class Origin:
    """How a batch of records arrived, stamped on each of its events: `name` is
    `<channel>:<key name>` for a push (the key that sent it) or `sqs:<queue>` for the trail
    files Leash pulled itself; `trusted` says whether automatic quarantine and revocation may
    act on evidence from it (a push is as trustworthy as the key that pushed it)."""

    name: str
    trusted: bool


# The one definition of an event's field order: the dataclass above. The bus header and the
# store row both read the fields through C-level attrgetters built from it (no per-event cost).
EVENT_FIELDS = tuple(f.name for f in fields(AuditEvent))
EVENT_COLUMNS = tuple("event_time" if f == "event_time_ms" else f for f in EVENT_FIELDS)
# the bus header: every field but raw and the version, raw's followers last
HEADER_FIELDS = tuple(f for f in EVENT_FIELDS if f not in ("raw", "schema_version"))
_BEFORE_RAW = EVENT_FIELDS.index("raw")
_V1_FIELDS = _BEFORE_RAW  # a version-1 header: the fields before raw only
header_of = attrgetter(*HEADER_FIELDS)
_RESOURCES = HEADER_FIELDS.index("resources")
_EVENT_ID = HEADER_FIELDS.index("event_id")
# header strings that repeat from event to event (who, where, which call): decoded events share
# one object per value (sys.intern) instead of a copy each -- the detector keeps them in its
# per-principal memory and its event memo (~5 kB a principal at the memory soak's shape)
_INTERNED = tuple(
    HEADER_FIELDS.index(f)
    for f in (
        "principal",
        "principal_key",
        "actor_kind",
        "account",
        "region",
        "source",
        "action",
        "action_class",
        "error_code",
        "source_ip",
        "user_agent",
        "origin",
    )
)


def _get(record: Mapping[str, Any], key: str) -> Any:
    value = record.get(key)
    if value is None:
        value = record.get(key.lower())
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def parse_event_time(value: Any) -> int:
    """ISO-8601 (CloudTrail `...Z`, Athena `YYYY-MM-DD HH:MM:SS`) or epoch seconds/ms -> UTC ms."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _in_range(int(value if value > 1e11 else value * 1000), value)
    if not isinstance(value, str) or not value:
        raise RecordError("eventTime is missing")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(f"eventTime {value[:40]!r} is not an ISO-8601 timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return _in_range(int(parsed.timestamp() * 1000), value)


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


_LATEST_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z


def _in_range(ms: int, value: Any) -> int:
    """Event times from 1970 to 2099 (what the store's DateTime64 and the API's cursors hold)."""
    if not 0 <= ms < _LATEST_MS:
        raise RecordError(f"eventTime {str(value)[:40]!r} is outside 1970-2099")
    return ms


def _collect_resources(record: Mapping[str, Any]) -> tuple[str, ...]:
    found: list[str] = []
    listed = _get(record, "resources")
    for res in listed if isinstance(listed, list) else ():
        if isinstance(res, Mapping):
            name = _get(res, "ARN") or _get(res, "arn")
            if isinstance(name, str) and name:
                found.append(name)
    params = _get(record, "requestParameters")
    if isinstance(params, Mapping):
        _walk(params, found, depth=0)
    unique = list(dict.fromkeys(found))
    return tuple(unique[:MAX_RESOURCES])


def _walk(node: Mapping[str, Any], found: list[str], depth: int) -> None:
    if depth > 4 or len(found) >= MAX_RESOURCES:
        return
    for key, value in node.items():
        lower = key.lower()
        if isinstance(value, str):
            if (
                value
                and lower.endswith(_RESOURCE_KEY_SUFFIXES)
                and lower not in _RESOURCE_KEY_EXCLUDE
            ):
                found.append(value[:512])
        elif isinstance(value, Mapping):
            _walk(value, found, depth + 1)
        elif isinstance(value, list):
            for item in value[:MAX_RESOURCES]:
                if isinstance(item, Mapping):
                    _walk(item, found, depth + 1)
                elif isinstance(item, str) and lower.endswith(_RESOURCE_KEY_SUFFIXES):
                    found.append(item[:512])


def _tool_arguments(record: Mapping[str, Any]) -> Any:
    """A tool call's arguments: requestParameters.arguments (as the OTLP receiver writes them),
    else requestParameters itself."""
    params = _get(record, "requestParameters")
    if isinstance(params, Mapping) and "arguments" in params:
        return params["arguments"]
    return params


def _principal(identity: Mapping[str, Any]) -> str:
    for key in ("arn", "principalId", "userName"):
        value = _get(identity, key)
        if isinstance(value, str) and value:
            return value
    session_issuer = _get(identity, "sessionContext")
    if isinstance(session_issuer, Mapping):
        issuer = _get(session_issuer, "sessionIssuer")
        if isinstance(issuer, Mapping) and _get(issuer, "arn"):
            return _text(_get(issuer, "arn"))
    behalf = _get(identity, "onBehalfOf")  # an IAM Identity Center user: no arn, a user id
    if isinstance(behalf, Mapping) and _get(behalf, "userId"):
        store = _text(_get(behalf, "identityStoreArn")) or "identitystore"
        return f"{store}/user/{_text(_get(behalf, 'userId'))}"
    invoked = _get(identity, "invokedBy")
    if isinstance(invoked, str) and invoked:
        return invoked
    if _get(identity, "type") == "AWSService":
        return "aws-service"
    raise RecordError(
        "userIdentity has no arn, principalId, userName, onBehalfOf.userId or invokedBy"
    )


class Normalizer:
    """Turns raw CloudTrail records into AuditEvents with the server's catalogue and matchers."""

    def __init__(
        self,
        identity: IdentityRules | None = None,
        catalogue: Catalogue | None = None,
        *,
        max_future_s: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`max_future_s` > 0 refuses records dated further ahead of `clock` than that."""
        self.identity = identity or build_identity_rules()
        self.catalogue = catalogue or default_catalogue()
        self.tools = tool_catalogue()  # an agent's tool calls (source tool or tool:<runtime>)
        self.k8s = k8s_catalogue()  # Kubernetes audit events (source k8s or k8s:<cluster>)
        self.max_future_ms = int(max_future_s * 1000)
        self.clock = clock

    def _check_future(self, event_time_ms: int, value: Any) -> None:
        ahead_s = event_time_ms / 1000 - self.clock()
        if ahead_s * 1000 > self.max_future_ms:
            raise RecordError(
                f"eventTime {str(value)[:40]!r} is {_duration(ahead_s)} in the future (more than "
                f"LEASH_MAX_FUTURE_SKEW_S={self.max_future_ms / 1000:g} s ahead of this server): "
                "check the sender's clock"
            )

    def _classify(self, source: str, action: str, record: Mapping[str, Any]) -> str:
        """The catalogue's class; an agent's tool call and a Kubernetes call have their own."""
        if is_tool_source(source):
            return self.tools.action_class(action, _tool_arguments(record))
        if is_k8s_source(source):
            return self.k8s.classify(action)
        return self.catalogue.classify(source, action)

    def normalize(
        self, record: Any, *, check_future: bool = True, origin: Origin | None = None
    ) -> AuditEvent:
        """The record as an AuditEvent stamped with `origin` (None: local, trusted, no name)."""
        if not isinstance(record, Mapping):
            raise RecordError(f"record must be a JSON object, got {type(record).__name__}")
        if _get(record, "eventCategory") == "Insight" or "insightDetails" in record:
            # an Insights event summarises a rate of calls; it has no caller and no eventName
            raise RecordError("CloudTrail Insights events are not API calls")
        action = _get(record, "eventName")
        if not isinstance(action, str) or not action:
            raise RecordError("eventName is missing or not a string")
        source = _get(record, "eventSource")
        if not isinstance(source, str) or not source:
            raise RecordError("eventSource is missing or not a string")
        time_value = _get(record, "eventTime")
        if time_value is None:
            time_value = record.get("@timestamp")  # Logstash-shipped CloudTrail
        event_time_ms = parse_event_time(time_value)
        if self.max_future_ms and check_future:
            self._check_future(event_time_ms, time_value)
        identity = _get(record, "userIdentity")
        if not isinstance(identity, Mapping):
            raise RecordError("userIdentity is missing or not an object")
        principal = _principal(identity)
        action_class = self._classify(source, action, record)
        if is_tool_source(source) and "requestParameters" in record:
            # a tool call's arguments are kept redacted, however they arrived
            params = redact_arguments(record["requestParameters"])
            record = {**record, "requestParameters": params}
        raw = orjson.dumps(record).decode()
        event_id = _get(record, "eventID")
        if not isinstance(event_id, str) or not event_id:
            event_id = (
                "sha256:"
                + hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()[:40]
            )
        user_agent = _text(_get(record, "userAgent"))
        explicit_agent = isinstance(record.get("agent"), Mapping)
        account = _get(record, "recipientAccountId") or _get(identity, "accountId")
        return AuditEvent(
            event_id=event_id,
            event_time_ms=event_time_ms,
            principal=principal,
            principal_key=self.identity.principal_key(principal),
            actor_kind=self.identity.actor_kind(identity, user_agent, explicit_agent),
            account=_text(account),
            region=_text(_get(record, "awsRegion")),
            source=source,
            action=action,
            action_class=action_class,
            resources=_collect_resources(record),
            error_code=_text(_get(record, "errorCode")),
            source_ip=_text(_get(record, "sourceIPAddress")),
            user_agent=user_agent,
            raw=raw,
            origin=origin.name if origin is not None else "",
            trusted=origin.trusted if origin is not None else True,
        )


def encode_event(event: AuditEvent) -> bytes:
    """Bus encoding: a compact JSON header (schema version, then the derived fields in
    EVENT_FIELDS order), a newline, then the raw record JSON."""
    return orjson.dumps((event.schema_version, *header_of(event))) + b"\n" + event.raw.encode()


def event_id_of(data: bytes) -> str:
    """The event id of encode_event's bytes, from the header alone (no full decode)."""
    head, _, _ = data.partition(b"\n")
    return str(orjson.loads(head)[1 + _EVENT_ID])


def decode_event(data: bytes) -> AuditEvent:
    """Inverse of encode_event; raises RecordError on bytes it did not produce."""
    head, sep, raw = data.partition(b"\n")
    if not sep:
        raise RecordError("not a Leash event: no header line")
    try:
        version, *values = orjson.loads(head)
        expected = len(HEADER_FIELDS) if version == SCHEMA_VERSION else _V1_FIELDS
        if version not in (1, SCHEMA_VERSION):
            raise RecordError(f"unsupported event schema_version {version!r}")
        if len(values) != expected:
            raise IndexError(f"{len(values)} header fields, expected {expected}")
        values[_RESOURCES] = tuple(values[_RESOURCES])
        count = len(values)
        for i in _INTERNED:
            if i < count:  # (a version-1 header has no origin)
                values[i] = sys.intern(values[i])
        # positional: a kwargs dict per event costs ~60% more; the length is checked above
        if version == 1:  # written before provenance: it arrived when every push acted
            return AuditEvent(*values, raw.decode(), "", True, version)  # type: ignore[call-arg]
        return AuditEvent(  # type: ignore[call-arg]
            *values[:_BEFORE_RAW], raw.decode(), *values[_BEFORE_RAW:], version
        )
    except (orjson.JSONDecodeError, IndexError, TypeError, ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, RecordError):
            raise
        raise RecordError(f"not a Leash event: {exc}") from None


def event_time_iso(event_time_ms: int) -> str:
    return datetime.fromtimestamp(event_time_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
