"""IsolationForestDetector (sklearn API, higher = more anomalous) and the DetectionModel."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest
from sklearn.utils.validation import check_is_fitted, validate_data

from detect.features import FEATURE_NAMES, PrincipalProfile

__all__ = [
    "ACTOR_KINDS",
    "MODEL_FORMAT",
    "DetectionModel",
    "IsolationForestDetector",
    "NotEnoughHistory",
    "explain_rows",
]

logger = logging.getLogger(__name__)

ACTOR_KINDS = ("agent", "human", "service")
FALLBACK = "all"  # the detector for a kind with too little history of its own
MODEL_FORMAT = 4  # bump when a saved model changes meaning (3: lasting deletes, nets, clients;
# 4: IPv6 sources have a net)
SCORE_MARGIN = 0.01  # anomaly score above a principal's own high training score that counts


class NotEnoughHistory(ValueError):
    """Too few stored windows to train a detector; ingest more history first."""


class IsolationForestDetector(BaseEstimator):  # type: ignore[misc]
    """Isolation forest whose public score is `anomaly_score`: higher means more anomalous.

    Parameters
    ----------
    n_estimators : number of trees.
    max_samples : rows drawn per tree ("auto" = min(256, n_samples)).
    threshold_quantile : quantile of the training anomaly scores above which a row is anomalous.
    random_state : seed of the forest.

    Attributes
    ----------
    model_ : the fitted sklearn IsolationForest.
    threshold_ : anomaly-score threshold learned from the training scores.
    n_features_in_ : number of features seen in fit.
    """

    def __init__(
        self,
        n_estimators: int = 100,
        max_samples: int | float | str = "auto",
        threshold_quantile: float = 0.999,
        random_state: int | None = None,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.threshold_quantile = threshold_quantile
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> IsolationForestDetector:
        del y
        X = validate_data(self, X, dtype=np.float64)
        self.model_ = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=self.max_samples,
            random_state=self.random_state,
        ).fit(X)
        self.threshold_ = float(np.quantile(self.score_samples(X), self.threshold_quantile))
        return self

    def score_samples(self, X: Any) -> np.ndarray:
        """anomaly_score of each row, in (0, 1]; higher means more anomalous.

        The same numbers as sklearn's `-IsolationForest.score_samples` (a test holds them
        equal), computed from the fitted trees directly: sklearn dispatches every tree through
        joblib and re-validates per call, which cost more than the trees themselves at the
        few hundred rows a detection batch scores (profiled: 32 ms per call vs 6 ms).
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        flat = self.__dict__.get("_flat")
        if flat is None:
            flat = self.__dict__["_flat"] = _FlatForest(self.model_)
        return flat.score(X)

    def __getstate__(self) -> dict[str, Any]:
        state: dict[str, Any] = super().__getstate__()
        state.pop("_flat", None)  # derived from model_; rebuilt on first use after loading
        return state

    anomaly_score = score_samples

    def predict(self, X: Any) -> np.ndarray:
        """1 for rows whose anomaly_score exceeds threshold_, else 0."""
        return (self.score_samples(X) > self.threshold_).astype(np.int64)


def _average_path_length(n: np.ndarray) -> np.ndarray:
    """c(n): the average path length of an unsuccessful search in a BST of n nodes (the
    isolation forest paper's normaliser): 0 for n <= 1, 1 for n = 2."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


class _FlatForest:
    """A fitted IsolationForest reduced to its trees and, per node, the path length a row that
    ends there is credited with (its depth plus c(training rows left in the node))."""

    def __init__(self, forest: IsolationForest) -> None:
        self.trees = []
        for estimator, features in zip(
            forest.estimators_, forest.estimators_features_, strict=True
        ):
            tree = estimator.tree_
            depth = np.zeros(tree.node_count, dtype=np.float64)
            for node in range(tree.node_count):  # children always follow their parent
                for child in (tree.children_left[node], tree.children_right[node]):
                    if child >= 0:
                        depth[child] = depth[node] + 1.0
            credit = depth + _average_path_length(tree.n_node_samples)
            self.trees.append((tree, np.asarray(features), credit))
        self.denominator = len(self.trees) * float(
            _average_path_length(np.array([forest.max_samples_]))[0]
        )

    def score(self, X: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(X, dtype=np.float32)  # what sklearn's trees split on
        depths = np.zeros(len(rows), dtype=np.float64)
        for tree, features, credit in self.trees:
            subset = rows if len(features) == rows.shape[1] else rows[:, features]
            depths += credit[tree.apply(np.ascontiguousarray(subset))]
        if self.denominator == 0:
            return np.full(len(rows), 0.5)  # one training row: sklearn's 2 ** -1
        return np.asarray(2.0 ** (-depths / self.denominator), dtype=np.float64)


def explain_rows(
    detector: IsolationForestDetector,
    X: np.ndarray,
    usual: np.ndarray,
    *,
    top: int = 5,
    scores: np.ndarray | None = None,
) -> list[dict[str, dict[str, float]]]:
    """The features that drove each row's score, by occlusion, in one scoring call (`scores`:
    the rows' own scores where the caller has them).

    Each feature in turn is set back to the principal's usual value; the drop in anomaly_score is
    that feature's contribution. Returns, per row, feature name -> {"value", "baseline",
    "contribution"} for the `top` features with a positive contribution. A feature already at
    its usual value contributes nothing: its probe is the row itself and is not scored again
    (a quarter to a half of the probes, measured; the probes are most of the forest's time).
    """
    n_rows, n_features = X.shape
    if n_rows == 0:
        return []
    base = detector.score_samples(X) if scores is None else scores
    probes = np.repeat(X, n_features, axis=0)
    cols = np.tile(np.arange(n_features), n_rows)
    at = np.arange(len(probes))
    values = usual[at // n_features, cols]
    moved = probes[at, cols] != values
    probes[at, cols] = values
    drops = np.zeros(len(probes), dtype=np.float64)
    if moved.any():
        drops[moved] = base.repeat(n_features)[moved] - detector.score_samples(probes[moved])
    out = []
    for i, row_drops in enumerate(drops.reshape(n_rows, n_features)):
        order = [j for j in np.argsort(-row_drops)[:top] if row_drops[j] > 0]
        out.append(
            {
                FEATURE_NAMES[j]: {
                    "value": round(float(X[i, j]), 4),
                    "baseline": round(float(usual[i, j]), 4),
                    "contribution": round(float(row_drops[j]), 4),
                }
                for j in order
            }
        )
    return out


@dataclass(frozen=True)
class DetectionModel:
    """A trained, versioned detector set: one forest per actor kind plus per-principal profiles."""

    version: str
    trained_at_ms: int
    feature_names: tuple[str, ...]
    detectors: Mapping[str, IsolationForestDetector]
    profiles: Mapping[str, PrincipalProfile]
    kind_usual: Mapping[str, tuple[float, ...]]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    score_high: Mapping[str, float] = field(default_factory=dict)
    format: int = MODEL_FORMAT

    def threshold_for(self, key: str, detector: IsolationForestDetector) -> float:
        """The kind's threshold, raised to just above what this principal's own windows scored."""
        own = self.score_high.get(key)
        return detector.threshold_ if own is None else max(detector.threshold_, own + SCORE_MARGIN)

    def detector_for(self, actor_kind: str) -> tuple[str, IsolationForestDetector] | None:
        name = actor_kind if actor_kind in self.detectors else FALLBACK
        found = self.detectors.get(name)
        return (name, found) if found is not None else None

    def usual_for(self, key: str, actor_kind: str) -> list[float]:
        profile = self.profiles.get(key)
        if profile is not None and profile.usual:
            return [float(profile.usual[name]) for name in self.feature_names]
        fallback = self.kind_usual.get(actor_kind) or self.kind_usual.get(FALLBACK)
        return list(fallback) if fallback else [0.0] * len(self.feature_names)
