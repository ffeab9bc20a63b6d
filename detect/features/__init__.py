"""Per-principal event-time windows and the feature vector (pure).

`PrincipalState` keeps one principal's minute buckets; `FEATURE_NAMES` orders the vector that
`feature_row` computes from them; `build_features` runs a stream of events through fresh states.
"""

from detect.features.bucket import (
    BUCKET_MS,
    CREATE_ACTION_RE,
    DATA_READ_ACTIONS,
    DAY_MS,
    EPHEMERAL_NAME_RE,
    GRANT_ACTIONS,
    ITEM_DELETES,
    MAX_BUCKET_IDS,
    MAX_BUCKET_NAMES,
    PROD_RESOURCE_RE,
    SLOW_SLOT_MS,
    SLOW_SLOTS,
    WINDOW_BUCKETS,
    WORK_HOURS_UTC,
    Bucket,
    is_data_read,
    is_offhours,
    resource_name,
)
from detect.features.build import build_features
from detect.features.row import FEATURE_NAMES, feature_row
from detect.features.state import (
    ESTABLISHED_EVENTS,
    FIRST_SEEN_PROD_DESTRUCTIVE,
    FIRST_SEEN_SENSITIVE,
    MAX_SEEN,
    MAX_SLOW_IDS,
    SEEN_DIMENSIONS,
    PrincipalProfile,
    PrincipalState,
    client_of,
    net_of,
    source_of,
    store_of,
)

__all__ = [
    "BUCKET_MS",
    "DAY_MS",
    "CREATE_ACTION_RE",
    "DATA_READ_ACTIONS",
    "EPHEMERAL_NAME_RE",
    "GRANT_ACTIONS",
    "ITEM_DELETES",
    "ESTABLISHED_EVENTS",
    "FEATURE_NAMES",
    "FIRST_SEEN_PROD_DESTRUCTIVE",
    "FIRST_SEEN_SENSITIVE",
    "MAX_BUCKET_IDS",
    "MAX_BUCKET_NAMES",
    "MAX_SEEN",
    "MAX_SLOW_IDS",
    "PROD_RESOURCE_RE",
    "SEEN_DIMENSIONS",
    "SLOW_SLOTS",
    "SLOW_SLOT_MS",
    "WINDOW_BUCKETS",
    "WORK_HOURS_UTC",
    "Bucket",
    "PrincipalProfile",
    "PrincipalState",
    "build_features",
    "client_of",
    "net_of",
    "source_of",
    "store_of",
    "feature_row",
    "is_data_read",
    "is_offhours",
    "resource_name",
]
