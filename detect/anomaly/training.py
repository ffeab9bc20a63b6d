"""Training: isolation forests and per-principal profiles fitted on stored history."""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import chain
from multiprocessing import get_context
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyarrow as pa

from detect.anomaly.forest import (
    ACTOR_KINDS,
    FALLBACK,
    DetectionModel,
    IsolationForestDetector,
    NotEnoughHistory,
)
from detect.anomaly.history import (
    PrincipalHistory,
    build_history,
    history_tables,
    latest_event_ms,
    load_history,
)
from detect.anomaly.model_file import SavedModel, record_model, write_model
from detect.features import DAY_MS, FEATURE_NAMES, PrincipalProfile, PrincipalState
from detect.settings import DetectSettings
from ingest.settings import Settings
from ingest.store import Store
from ingest.store.base import table_rows

logger = logging.getLogger(__name__)

__all__ = [
    "FitCancelled",
    "FitOptions",
    "fit_history",
    "model_dir",
    "train_and_save",
    "train_detector",
]

CANCEL_POLL_S = 0.2  # how often a fit in a child process checks for a stop


class FitCancelled(Exception):
    """The fit's child process was stopped before it answered (the process is shutting down)."""


def train_detector(
    store: Store,
    *,
    until_ms: int | None = None,
    days: float = 14.0,
    threshold_quantile: float = 0.999,
    baseline_quantile: float = 0.99,
    n_estimators: int = 100,
    min_rows: int = 200,
    random_state: int = 0,
    isolate: bool = False,
    spill_dir: Path | None = None,
    cancel: threading.Event | None = None,
    nice: int = 0,
) -> DetectionModel:
    """Train forests and profiles on the stored events of the last `days` before `until_ms`.

    `until_ms` defaults to just after the newest stored event (event time, so replayed history
    trains like live traffic). Raises NotEnoughHistory when fewer than `min_rows`
    principal-minute windows exist. The history is read in SQL here; with `isolate` the fit
    (features per minute, forests, profiles: seconds of Python holding the GIL) runs in a child
    process at niceness `nice`, so the API and the gate in this process keep answering while it
    runs; setting `cancel` stops that child at once (FitCancelled): a shutdown does not wait
    minutes for a fit.
    """
    fit = _options(
        store, until_ms, days, threshold_quantile, baseline_quantile, n_estimators, min_rows
    )
    job = _Job(fit, random_state, time.time(), nice=nice)
    return cast(DetectionModel, _train(store, job, isolate, spill_dir, cancel))


def train_and_save(
    store: Store,
    settings: Settings,
    detect: DetectSettings,
    cancel: threading.Event | None = None,
) -> SavedModel:
    """Train on the stored history, write the model under DATA_DIR/models and record it in the
    store (`cancel` stops a fit in its child process: train_detector). With `train_in_child` the
    child writes the model file too: this process (the API's) gets its name and metadata back,
    never the forests -- pickling them here held its GIL for a model's whole size."""
    fit = _options(
        store,
        None,
        detect.train_days,
        detect.threshold_quantile,
        detect.baseline_quantile,
        detect.n_estimators,
        detect.min_train_rows,
    )
    job = _Job(fit, 0, time.time(), nice=detect.train_nice, save_to=model_dir(settings))
    saved = cast(
        SavedModel,
        _train(store, job, detect.train_in_child, settings.data_dir / "tmp", cancel),
    )
    record_model(store, saved)
    return saved


def _options(
    store: Store,
    until_ms: int | None,
    days: float,
    threshold_quantile: float,
    baseline_quantile: float,
    n_estimators: int,
    min_rows: int,
) -> FitOptions:
    """The fit's window: `days` before `until_ms`, by default just after the newest stored
    event (event time, so replayed history trains like live traffic)."""
    until = until_ms if until_ms is not None else latest_event_ms(store) + 1
    since = until - int(days * DAY_MS)
    return FitOptions(
        since, until, days, threshold_quantile, baseline_quantile, n_estimators, min_rows
    )


@dataclass(frozen=True)
class _Job:
    """One training: the fit, when it started (wall clock: the child times it too), the child's
    niceness, and where to write the model (None: hand the model itself back)."""

    fit: FitOptions
    random_state: int
    started_at: float
    nice: int = 0
    save_to: Path | None = None


def _train(
    store: Store,
    job: _Job,
    isolate: bool,
    spill_dir: Path | None,
    cancel: threading.Event | None,
) -> DetectionModel | SavedModel:
    since, until = job.fit.since_ms, job.fit.until_ms
    if not isolate:
        return _run_job(load_history(store, since_ms=since, until_ms=until), job)
    # the child gets the query results as Arrow tables where the store answers so (chDB), and
    # builds the histories itself: Python objects for every minute hold the GIL for seconds.
    # The tables go in files under `spill_dir`: held here, they stayed in this process (the
    # API's) for the whole fit, minutes at millions of events
    tables = history_tables(store, since_ms=since, until_ms=until)
    if tables is None:
        built = list(load_history(store, since_ms=since, until_ms=until))
        return _fit_isolated(built, job, cancel=cancel)
    if spill_dir is not None:
        spill_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="train-", dir=spill_dir) as spill:
        return _fit_isolated(_spill(tables, Path(spill)), job, cancel=cancel)


def _spill(parts: Iterable[Mapping[str, pa.Table]], directory: Path) -> list[dict[str, Path]]:
    """Each part's tables in Arrow IPC files of their own (the child maps them back a part at
    a time); a part is let go once written."""
    spilled = []
    for number, part in enumerate(parts):
        paths = {name: directory / f"{name}-{number:04d}.arrow" for name in part}
        for name, table in part.items():
            with (
                pa.OSFile(str(paths[name]), "wb") as sink,
                pa.ipc.new_file(sink, table.schema) as writer,
            ):
                writer.write_table(table)
        spilled.append(paths)
        del part
        pa.default_memory_pool().release_unused()
    return spilled


def _fit_isolated(
    source: list[dict[str, Path]] | list[PrincipalHistory],
    job: _Job,
    *,
    cancel: threading.Event | None = None,
) -> DetectionModel | SavedModel:
    """The fit in a spawned child process that sends the model, or where it wrote it (or its
    exception), back. A set `cancel` terminates the child (FitCancelled); a child that cannot
    start, or dies without an answer, leaves the fit to this process. The child is a daemon: a
    process that exits takes its fit with it (a process pool's exit handler waited for the fit:
    `leash up` stopped with Ctrl-C during a retrain hung for minutes)."""
    context = get_context("spawn")
    answers, answer = context.Pipe(duplex=False)
    child = context.Process(
        target=_fit_and_answer,
        args=(answer, source, job),
        name="leash-fit",
        daemon=True,
    )
    try:
        child.start()
    except OSError as exc:  # no child possible here: fit in this process
        logger.warning("training in a child process failed (%s); fitting in this one", exc)
        return _run_job(_histories(source), job)
    finally:
        answer.close()
    try:
        while not answers.poll(CANCEL_POLL_S):
            if cancel is not None and cancel.is_set():
                raise FitCancelled("training stopped: the detector is shutting down")
            if not child.is_alive() and not answers.poll():
                break
        else:
            fitted, result = answers.recv()
            if not fitted:
                raise result
            return cast(DetectionModel | SavedModel, result)
    except EOFError:  # the child closed its end without an answer: it died
        pass
    finally:
        if child.is_alive() and cancel is not None and cancel.is_set():
            child.terminate()
        child.join(30.0)
        answers.close()
    if cancel is not None and cancel.is_set():  # (a Ctrl-C reached the child too: review)
        raise FitCancelled("training stopped: the detector is shutting down")
    logger.warning(
        "the training process exited (code %s) without a model; fitting in this one",
        child.exitcode,
    )
    return _run_job(_histories(source), job)


def _fit_and_answer(
    answer: Connection, source: list[dict[str, Path]] | list[PrincipalHistory], job: _Job
) -> None:
    """In the child: fit (and write), send (True, the model or SavedModel) or (False, the
    exception) back. A Ctrl-C reaches the whole process group: the parent decides when the fit
    stops (cancel), not the signal. Niced: the API, the sink and the detector come first."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if job.nice:
        os.nice(job.nice)
    try:
        try:
            reply: tuple[bool, object] = (True, _run_job(_histories(source), job))
        except Exception as exc:  # noqa: BLE001 - handed to the parent, which raises it
            reply = (False, _portable(exc))
        answer.send(reply)
    finally:
        answer.close()


def _portable(exc: Exception) -> Exception:
    """`exc` if it survives the trip to the parent (pickled and rebuilt), else a RuntimeError
    with its type, message and traceback (review: an exception holding a lock made the parent
    fit all over again; one whose class cannot be rebuilt raised a TypeError there)."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any failure to cross means: send its text instead
        text = "".join(traceback.format_exception(exc))
        return RuntimeError(f"training failed in its child process: {text}")
    return exc


def _run_job(history: Iterable[PrincipalHistory], job: _Job) -> DetectionModel | SavedModel:
    """Fit; the model with the whole training's seconds (reading the history included),
    written to `job.save_to` when set."""
    model = fit_history(history, job.fit, random_state=job.random_state)
    seconds = round(time.time() - job.started_at, 3)
    model = replace(model, metadata={**model.metadata, "train_seconds": seconds})
    return model if job.save_to is None else write_model(model, job.save_to)


def _histories(
    source: list[dict[str, Path]] | list[PrincipalHistory],
) -> Iterable[PrincipalHistory]:
    if source and isinstance(source[0], PrincipalHistory):
        return source
    parts = cast(list[dict[str, Path]], source)
    # a part's rows become Python objects only while the fit reads that part's principals
    return chain.from_iterable(
        build_history({name: table_rows(_read(path)) for name, path in part.items()})
        for part in parts
    )


def _read(path: Path) -> pa.Table:
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


@dataclass(frozen=True)
class FitOptions:
    """What a fit needs besides the history (it crosses to the child process)."""

    since_ms: int
    until_ms: int
    days: float
    threshold_quantile: float
    baseline_quantile: float
    n_estimators: int
    min_rows: int


def fit_history(
    history: Iterable[PrincipalHistory], fit: FitOptions, *, random_state: int
) -> DetectionModel:
    """Forests and per-principal profiles from the history train_detector read."""
    keys: list[str] = []
    kinds: list[str] = []
    blocks: list[np.ndarray] = []
    profiles: dict[str, PrincipalProfile] = {}
    for item in history:
        state = PrincipalState(item.key, item.actor_kind)
        rows = []
        for bucket in item.buckets:
            state.push_bucket(bucket)
            rows.append(state.features())
        X = np.asarray(rows, dtype=np.float64)
        state.finish()
        profiles[item.key] = _profile(state, X, item.seen, fit.baseline_quantile, item.novel_days)
        keys.extend([item.key] * len(rows))
        kinds.extend([item.actor_kind] * len(rows))
        blocks.append(X)
    if sum(len(b) for b in blocks) < fit.min_rows:
        raise NotEnoughHistory(
            f"{sum(len(b) for b in blocks)} principal-minute windows in the last {fit.days:g} "
            f"days; training needs at least {fit.min_rows}"
        )
    X_all = np.vstack(blocks)
    kind_array = np.asarray(kinds)
    detectors, kind_usual = _fit_kinds(
        X_all,
        kind_array,
        min_rows=fit.min_rows,
        params={
            "n_estimators": fit.n_estimators,
            "threshold_quantile": fit.threshold_quantile,
            "random_state": random_state,
        },
    )
    score_high = _score_highs(detectors, X_all, kind_array, np.asarray(keys), fit.baseline_quantile)
    since, until = fit.since_ms, fit.until_ms
    digest = hashlib.sha256(f"{since}:{until}:{len(X_all)}:{len(profiles)}".encode()).hexdigest()
    trained_at = int(time.time() * 1000)
    metadata = {
        "rows": int(len(X_all)),
        "principals": len(profiles),
        "since_ms": since,
        "until_ms": until,
        "threshold_quantile": fit.threshold_quantile,
        "baseline_quantile": fit.baseline_quantile,
        "thresholds": {k: d.threshold_ for k, d in detectors.items()},
        "rows_by_kind": {k: int((np.asarray(kinds) == k).sum()) for k in ACTOR_KINDS},
    }
    version = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(trained_at / 1000)) + "-" + digest[:8]
    logger.info(
        "trained detector %s on %d windows of %d principals", version, len(X_all), len(profiles)
    )
    return DetectionModel(
        version, trained_at, FEATURE_NAMES, detectors, profiles, kind_usual, metadata, score_high
    )


def _profile(
    state: PrincipalState,
    X: np.ndarray,
    seen: Mapping[str, Sequence[str]],
    quantile: float,
    novel_days: Mapping[str, int],
) -> PrincipalProfile:
    usual = np.median(X, axis=0)
    high = np.quantile(X, quantile, axis=0)
    return PrincipalProfile(
        key=state.key,
        actor_kind=state.actor_kind,
        events=state.hist_events,
        minutes=state.hist_minutes,
        offhours=state.hist_offhours,
        destructive=state.hist_destructive,
        # interned: one string object per value across all profiles, so the pickled model
        # stores each once and the loaded one shares them (a copy per profile was ~5 kB each)
        seen={dim: tuple(_intern(v) for v in values) for dim, values in seen.items()},
        usual={n: round(float(v), 4) for n, v in zip(FEATURE_NAMES, usual, strict=True)},
        high={n: round(float(v), 4) for n, v in zip(FEATURE_NAMES, high, strict=True)},
        first_ms=state.first_event_ms,
        last_ms=state.last_event_ms,
        active_days=state.active_days,
        novel_days=dict(novel_days),
    )


def _intern(value: str) -> str:
    return sys.intern(value) if type(value) is str else value


def _score_highs(
    detectors: Mapping[str, IsolationForestDetector],
    X: np.ndarray,
    kinds: np.ndarray,
    keys: np.ndarray,
    quantile: float,
) -> dict[str, float]:
    """Per principal, the high quantile of its own training windows' anomaly scores."""
    scores = np.empty(len(X))
    for kind in set(kinds.tolist()):
        mask = kinds == kind
        scores[mask] = detectors.get(kind, detectors[FALLBACK]).score_samples(X[mask])
    return {
        str(key): round(float(np.quantile(scores[keys == key], quantile)), 4)
        for key in set(keys.tolist())
    }


def _fit_kinds(
    X: np.ndarray, kinds: np.ndarray, *, min_rows: int, params: Mapping[str, Any]
) -> tuple[dict[str, IsolationForestDetector], dict[str, tuple[float, ...]]]:
    detectors = {FALLBACK: IsolationForestDetector(**params).fit(X)}
    usual = {FALLBACK: tuple(float(v) for v in np.median(X, axis=0))}
    for kind in ACTOR_KINDS:
        mask = kinds == kind
        if int(mask.sum()) >= min_rows:
            detectors[kind] = IsolationForestDetector(**params).fit(X[mask])
            usual[kind] = tuple(float(v) for v in np.median(X[mask], axis=0))
    return detectors, usual


def model_dir(settings: Settings) -> Path:
    return settings.data_dir / "models"
