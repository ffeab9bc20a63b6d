"""build_features(): the feature rows of a stream of events, as the streaming detector sees them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from detect.features.row import FEATURE_NAMES
from detect.features.state import PrincipalProfile, PrincipalState
from ingest.events import AuditEvent

__all__ = ["build_features"]


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
