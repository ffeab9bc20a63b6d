"""Versioned model files on disk: save_model, load_model, latest_model and current.json."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import orjson

from detect.anomaly.forest import MODEL_FORMAT, DetectionModel
from detect.features import FEATURE_NAMES
from ingest import schema
from ingest.store import Store

logger = logging.getLogger(__name__)

__all__ = [
    "CURRENT_FILE",
    "IncompatibleModel",
    "SavedModel",
    "latest_model",
    "load_model",
    "record_model",
    "save_model",
    "write_model",
]

CURRENT_FILE = "current.json"  # names the model file the detector should load
TMP_SUFFIX = ".tmp"  # a model or pointer being written: <name>.<pid>-<thread>.tmp
LEFTOVER_AGE_S = 3600.0  # a .tmp without a writer's pid this old is a leftover


class IncompatibleModel(ValueError):
    """A model file trained on other features than this version computes: retrain."""


@dataclass(frozen=True)
class SavedModel:
    """A model on disk and what the status and the API say of it -- all a process that did not
    fit the model needs (unpickling the forests held its GIL)."""

    version: str
    trained_at_ms: int
    metadata: dict[str, Any]
    path: Path


def save_model(model: DetectionModel, model_dir: Path, store: Store | None = None) -> SavedModel:
    """write_model, then record_model in `store`."""
    saved = write_model(model, model_dir)
    if store is not None:
        record_model(store, saved)
    return saved


def write_model(model: DetectionModel, model_dir: Path) -> SavedModel:
    """Write the model to model_dir/detector-<version>.joblib and point current.json at it."""
    model_dir.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(model_dir)
    path = model_dir / f"detector-{model.version}.joblib"
    tmp = model_dir / f"{path.name}.{_writer()}{TMP_SUFFIX}"  # two writers never share one
    joblib.dump(model, tmp, compress=3)
    os.replace(tmp, path)
    saved = SavedModel(model.version, model.trained_at_ms, dict(model.metadata), path)
    current = model_dir / CURRENT_FILE
    pointer = model_dir / f"{CURRENT_FILE}.{_writer()}{TMP_SUFFIX}"
    pointer.write_bytes(
        orjson.dumps(
            {
                "version": saved.version,
                "file": path.name,
                "trained_at_ms": saved.trained_at_ms,
                "metadata": saved.metadata,
            }
        )
    )
    os.replace(pointer, current)
    logger.info("saved detector %s to %s", model.version, path)
    return saved


def _writer() -> str:
    """A temporary name's writer: this process and thread (`<pid>-<thread>`)."""
    return f"{os.getpid()}-{threading.get_ident()}"


def _remove_leftovers(model_dir: Path) -> None:
    """Delete the half-written files of writers that are gone (a fit's child stopped by a
    shutdown while it wrote leaves one): `<name>.<pid>-<thread>.tmp` of another process no
    longer running, and any other `.tmp` an hour old. This process's own are left alone:
    another of its threads may be writing (review)."""
    for leftover in model_dir.glob(f"*{TMP_SUFFIX}"):
        writer = leftover.name.removesuffix(TMP_SUFFIX).rpartition(".")[2]
        pid = writer.partition("-")[0]
        try:
            if pid.isdigit() and (int(pid) == os.getpid() or _running(int(pid))):
                continue
            if not pid.isdigit() and time.time() - leftover.stat().st_mtime < LEFTOVER_AGE_S:
                continue
            leftover.unlink()
        except FileNotFoundError:
            continue  # its writer finished meanwhile
        except OSError as exc:  # not ours to delete (another user's, a read-only share)
            logger.warning("could not remove the leftover model file %s: %s", leftover, exc)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def record_model(store: Store, saved: SavedModel) -> None:
    """The model's row in the store's detector_models table."""
    store.insert(
        schema.DETECTOR_MODELS,
        [
            (
                saved.version,
                datetime.fromtimestamp(saved.trained_at_ms / 1000, tz=UTC),
                str(saved.path),
                int(saved.metadata.get("rows", 0)),
                int(saved.metadata.get("principals", 0)),
                orjson.dumps(saved.metadata).decode(),
            )
        ],
        ["version", "trained_at", "path", "rows", "principals", "metadata"],
    )


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
