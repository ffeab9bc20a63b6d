"""Per-principal event-time window features: build_features(); re-exports detect.feature_* names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

# Every public name of detect.feature_* is re-exported here (outside __all__ as `X as X`).
from detect.features.bucket import BUCKET_MS as BUCKET_MS
from detect.features.bucket import (
    CREATE_ACTION_RE,
    DATA_READ_ACTIONS,
    PROD_RESOURCE_RE,
    Bucket,
    is_data_read,
    is_offhours,
    resource_name,
)
from detect.features.bucket import MAX_BUCKET_IDS as MAX_BUCKET_IDS
from detect.features.bucket import MAX_BUCKET_NAMES as MAX_BUCKET_NAMES
from detect.features.bucket import SLOW_SLOT_MS as SLOW_SLOT_MS
from detect.features.bucket import SLOW_SLOTS as SLOW_SLOTS
from detect.features.bucket import WINDOW_BUCKETS as WINDOW_BUCKETS
from detect.features.bucket import WORK_HOURS_UTC as WORK_HOURS_UTC
from detect.features.row import FEATURE_NAMES
from detect.features.state import (
    ESTABLISHED_EVENTS,
    FIRST_SEEN_PROD_DESTRUCTIVE,
    FIRST_SEEN_SENSITIVE,
    PrincipalProfile,
    PrincipalState,
)
from detect.features.state import MAX_SEEN as MAX_SEEN
from detect.features.state import MAX_SLOW_IDS as MAX_SLOW_IDS
from detect.features.state import SEEN_DIMENSIONS as SEEN_DIMENSIONS
from ingest.events import AuditEvent

__all__ = [
    "CREATE_ACTION_RE",
    "DATA_READ_ACTIONS",
    "ESTABLISHED_EVENTS",
    "FEATURE_NAMES",
    "FIRST_SEEN_PROD_DESTRUCTIVE",
    "FIRST_SEEN_SENSITIVE",
    "PROD_RESOURCE_RE",
    "Bucket",
    "PrincipalProfile",
    "PrincipalState",
    "build_features",
    "is_data_read",
    "is_offhours",
    "resource_name",
]


def build_features(
    events: Iterable[AuditEvent], *, profiles: Mapping[str, PrincipalProfile] | None = None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Feature rows, one per event in the given order, as the streaming detector computes them.

    Parameters
    ----------
    events : AuditEvent iterable, in arrival order (event time within each principal).
    profiles : optional trained profiles that seed each principal's history.

    Returns
    -------
    X : float64 array of shape (n_events, len(FEATURE_NAMES)), and the feature names.
    """
    states: dict[str, PrincipalState] = {}
    rows: list[list[float]] = []
    for event in events:
        state = states.get(event.principal_key)
        if state is None:
            profile = (profiles or {}).get(event.principal_key)
            state = states[event.principal_key] = PrincipalState(
                event.principal_key, event.actor_kind, profile
            )
        state.observe(event)
        rows.append(state.features())
    return np.asarray(rows, dtype=np.float64).reshape(-1, len(FEATURE_NAMES)), FEATURE_NAMES
