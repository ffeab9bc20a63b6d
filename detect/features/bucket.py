"""Minute buckets and the event tests they count by: shared by streaming state and SQL history."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

__all__ = [
    "BUCKET_MS",
    "CREATE_ACTION_RE",
    "DATA_READ_ACTIONS",
    "MAX_BUCKET_IDS",
    "MAX_BUCKET_NAMES",
    "PROD_RESOURCE_RE",
    "SLOW_SLOTS",
    "SLOW_SLOT_MS",
    "WINDOW_BUCKETS",
    "WORK_HOURS_UTC",
    "Bucket",
    "is_data_read",
    "is_offhours",
    "resource_name",
]

BUCKET_MS = 60_000  # one bucket = one event-time minute
DAY_MS = 86_400_000  # one UTC day of event time
WINDOW_BUCKETS = 10  # minutes in the long window
SLOW_SLOT_MS = 600_000  # 10-minute slots for the slow (6 h) destructive count
SLOW_SLOTS = 36  # 36 x 10 min = 6 hours
MAX_BUCKET_NAMES = 256  # resource names kept per bucket (distinct count and churn)
MAX_BUCKET_IDS = 256  # event ids kept per bucket and class (finding evidence)
WORK_HOURS_UTC = (7, 19)  # [start, end) hours; outside them, or at weekends, is off-hours

CREATE_ACTION_RE = r"^(Create|Run|Launch|Register|Restore|Import|Allocate)"
PROD_RESOURCE_RE = r"(?i)(^|[^a-z])(prod|production|prd|live)([^a-z]|$)"
# Names that say "temporary": pull-request previews, tests, scratch space, sandboxes, dev. A
# delete whose resources carry none of these counts as a delete of a lasting resource.
EPHEMERAL_NAME_RE = (
    r"(?i)(^|[^a-z0-9])(pr-?\d+|preview|test|tests|testing|tmp|temp|scratch|sandbox|dev|"
    r"ephemeral|e2e|it|ci|demo|poc|playground|review-\d+)([^a-z0-9]|$)"
)
# Names of a non-production environment (dev, staging, QA...): with EPHEMERAL_NAME_RE, what a
# delete outside production touches
NON_PROD_NAME_RE = (
    r"(?i)(^|[^a-z0-9])(dev|development|staging|stage|stg|test|qa|sandbox)([^a-z0-9]|$)"
)
# Calls that hand someone a way in: new code, a shell, a pushed key, an instance's password.
# A principal's first one on a production-named target is remembered like a production delete.
GRANT_ACTIONS = frozenset(
    {
        "UpdateFunctionCode",
        "UpdateFunctionCode20150331v2",
        "StartSession",
        "SendCommand",
        "SendSSHPublicKey",
        "SendSerialConsoleSSHPublicKey",
        "GetPasswordData",
    }
)
# Deletes of data items inside a resource (objects, table items, messages, log streams): their
# volume counts as destruction (destructive_10m), but none deletes a lasting resource.
ITEM_DELETES = frozenset(
    {
        "DeleteObject",
        "DeleteObjectVersion",
        "DeleteItem",
        "BatchWriteItem",
        "DeleteMessage",
        "DeleteMessageBatch",
        "DeleteLogStream",
    }
)
# Calls that return stored data itself (object bodies, table items, secret values), not metadata:
# a principal's volume of these, against its own history, is the exfiltration signal. Names are
# matched together with the service (eventSource prefix), since e.g. "Query" means little alone.
DATA_READ_ACTIONS: frozenset[tuple[str, str]] = frozenset(
    {
        ("s3", "GetObject"),
        ("s3", "SelectObjectContent"),
        ("s3", "GetObjectTorrent"),
        ("dynamodb", "GetItem"),
        ("dynamodb", "BatchGetItem"),
        ("dynamodb", "Query"),
        ("dynamodb", "Scan"),
        ("dynamodb", "ExecuteStatement"),
        ("dynamodb", "BatchExecuteStatement"),
        ("secretsmanager", "GetSecretValue"),
        ("secretsmanager", "BatchGetSecretValue"),
    }
)
# DATA_READ_ACTIONS with each service also as its eventSource: is_data_read's one lookup for
# what the suffix's removal and a lookup found (asked four times an event)
_DATA_READ_CALLS = DATA_READ_ACTIONS | {(f"{s}.amazonaws.com", a) for s, a in DATA_READ_ACTIONS}
_NAME_PREFIX = re.compile(r"^.*[/:]")


def is_data_read(source: str, action: str, error_code: str) -> bool:
    """A successful call in DATA_READ_ACTIONS (`source` with or without ".amazonaws.com")."""
    return not error_code and (source, action) in _DATA_READ_CALLS


@functools.lru_cache(maxsize=16_384)
def resource_name(resource: str) -> str:
    """Last path segment of an ARN or path: the name a delete and a recreate share.

    What follows the last "/" or ":" -- what _NAME_PREFIX leaves, found without the regex (an
    object's key is a new name nearly every call, so the cache seldom has it); the regex
    itself for a name with a line break, where its "." stops."""
    if "\n" in resource:
        return _NAME_PREFIX.sub("", resource)
    return resource[max(resource.rfind("/"), resource.rfind(":")) + 1 :]


def is_offhours(event_time_ms: int) -> bool:
    """Outside WORK_HOURS_UTC on a weekday, or any time on Saturday/Sunday (UTC)."""
    hour = (event_time_ms // 3_600_000) % 24
    weekday = (event_time_ms // 86_400_000 + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return weekday >= 5 or not WORK_HOURS_UTC[0] <= hour < WORK_HOURS_UTC[1]


@dataclass(slots=True)
class Bucket:
    """Counts of one principal's events in one event-time minute (`minute` = epoch ms // 60000)."""

    minute: int
    n: int = 0
    destructive: int = 0
    privilege: int = 0
    evasion: int = 0
    writes: int = 0
    errors: int = 0
    offhours: int = 0
    creates: int = 0
    prod_destructive: int = 0
    lasting_destructive: int = 0  # successful deletes none of whose resources is EPHEMERAL
    # deletes outside production: items of a store named for a non-production environment or
    # as temporary, or resources all so named; none named for production (state._scratch;
    # streaming only: training leaves it 0)
    scratch_destructive: int = 0
    data_reads: int = 0  # successful DATA_READ_ACTIONS calls
    new_action: int = 0
    new_service: int = 0
    new_region: int = 0
    new_ip: int = 0
    new_destructive: int = 0
    new_sensitive: int = 0
    # of the counts above, calls whose own context explained them (a benign twin: the flow logs
    # of a network the caller just deleted, a user a person just made) -- PrincipalState.excuse
    excused_privilege: int = 0
    excused_evasion: int = 0
    excused_new_sensitive: int = 0
    excused_new_action: int = 0
    resources: set[str] = field(default_factory=set)
    regions: set[str] = field(default_factory=set)
    churn: dict[str, list[int]] = field(default_factory=dict)  # name -> [first delete, last create]
    destructive_ids: list[str] = field(default_factory=list)
    sensitive_ids: list[str] = field(default_factory=list)

    def add_churn(self, name: str, *, delete_ms: int, create_ms: int) -> None:
        """Merge a name's first delete / last create time (0 = none) into the bucket."""
        slot = self.churn.get(name)
        if slot is None:
            if len(self.churn) < MAX_BUCKET_NAMES:
                self.churn[name] = [delete_ms, create_ms]
            return
        if delete_ms and (not slot[0] or delete_ms < slot[0]):
            slot[0] = delete_ms
        slot[1] = max(slot[1], create_ms)
