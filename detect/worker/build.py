"""The streaming engine as both worker forms build it: rules, model, adopted open incidents."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from detect.alerts.alert import AlertStore
from detect.anomaly.forest import DetectionModel
from detect.anomaly.model_file import latest_model
from detect.engine import DetectionEngine
from detect.findings import Finding
from detect.rules.base import Rule
from detect.rules.catalogue import load_rules
from detect.settings import DetectSettings
from ingest.identity import IdentityRules
from ingest.store import Store

__all__ = ["build_engine", "load_model"]

logger = logging.getLogger(__name__)


def load_model(directory: Path) -> DetectionModel | None:
    """The current model in `directory`; None when there is none or it cannot be read."""
    try:
        return latest_model(directory)
    except Exception:  # noqa: BLE001 - an unreadable model must not stop detection; retrain
        logger.exception("cannot load the detector model in %s; running without it", directory)
        return None


def build_engine(
    store: Store,
    *,
    models: Path,
    settings: DetectSettings,
    extra_rules: Sequence[Rule] = (),
    suppressors: Sequence[Callable[[Finding], bool]] = (),
    false_positive: Callable[[str, str], bool] | None = None,
    identity: IdentityRules | None = None,
) -> DetectionEngine:
    """A DetectionEngine with the packaged rules and the model in `models`, which has adopted
    the open incidents stored in `store` (so a restart grows them instead of opening twins)."""
    engine = DetectionEngine(
        rules=load_rules(),
        extra_rules=list(extra_rules),
        suppressors=list(suppressors),
        model=load_model(models),
        false_positive=false_positive,
        identity=identity,
        **settings.engine_options(),
    )
    engine.book.adopt(AlertStore(store).open_incidents(since_ms=0))
    return engine
