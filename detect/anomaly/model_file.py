"""Versioned model files on disk: save_model, load_model, latest_model and current.json."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import joblib
import orjson

from detect.anomaly.forest import MODEL_FORMAT, DetectionModel
from detect.features import FEATURE_NAMES
from ingest import schema
from ingest.store import Store

logger = logging.getLogger(__name__)

__all__ = ["CURRENT_FILE", "IncompatibleModel", "latest_model", "load_model", "save_model"]

CURRENT_FILE = "current.json"  # names the model file the detector should load


class IncompatibleModel(ValueError):
    """A model file trained on other features than this version computes: retrain."""


def save_model(model: DetectionModel, model_dir: Path, store: Store | None = None) -> Path:
    """Write the model to model_dir/<version>.joblib, point current.json at it, record it."""
    model_dir.mkdir(parents=True, exist_ok=True)
    path = model_dir / f"detector-{model.version}.joblib"
    tmp = path.with_suffix(".tmp")
    joblib.dump(model, tmp, compress=3)
    os.replace(tmp, path)
    current = model_dir / CURRENT_FILE
    pointer = current.with_suffix(".tmp")
    pointer.write_bytes(
        orjson.dumps(
            {
                "version": model.version,
                "file": path.name,
                "trained_at_ms": model.trained_at_ms,
                "metadata": dict(model.metadata),
            }
        )
    )
    os.replace(pointer, current)
    if store is not None:
        store.insert(
            schema.DETECTOR_MODELS,
            [
                (
                    model.version,
                    datetime.fromtimestamp(model.trained_at_ms / 1000, tz=UTC),
                    str(path),
                    int(model.metadata.get("rows", 0)),
                    len(model.profiles),
                    orjson.dumps(dict(model.metadata)).decode(),
                )
            ],
            ["version", "trained_at", "path", "rows", "principals", "metadata"],
        )
    logger.info("saved detector %s to %s", model.version, path)
    return path


def load_model(path: Path) -> DetectionModel:
    """Load a model file written by save_model (joblib: trusted local files only)."""
    model = joblib.load(path)
    if not isinstance(model, DetectionModel):
        raise TypeError(f"{path} does not hold a DetectionModel")
    if getattr(model, "format", 1) != MODEL_FORMAT:
        raise IncompatibleModel(
            f"{path} is a model of format {getattr(model, 'format', 1)}; "
            f"this version reads format {MODEL_FORMAT}"
        )
    if tuple(model.feature_names) != FEATURE_NAMES:
        raise IncompatibleModel(
            f"{path} was trained on other features than this version "
            f"computes ({len(model.feature_names)} vs {len(FEATURE_NAMES)})"
        )
    return model


def latest_model(model_dir: Path) -> DetectionModel | None:
    """The model current.json names; None when none was trained yet or it needs retraining."""
    current = model_dir / CURRENT_FILE
    if not current.exists():
        return None
    name = orjson.loads(current.read_bytes())["file"]
    try:
        return load_model(model_dir / name)
    except IncompatibleModel as exc:
        logger.warning("%s; the detector runs without a model until it is retrained", exc)
        return None
