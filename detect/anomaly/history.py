"""The model's side of the store: training history read in SQL, versioned model files on disk."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import orjson

from detect.features.build import (
    CREATE_ACTION_RE,
    DATA_READ_ACTIONS,
    FEATURE_NAMES,
    MAX_BUCKET_NAMES,
    MAX_SEEN,
    PROD_RESOURCE_RE,
    SEEN_DIMENSIONS,
    WORK_HOURS_UTC,
    Bucket,
)
from ingest import schema
from ingest.store import Store

if TYPE_CHECKING:
    from detect.anomaly.forest import DetectionModel

__all__ = [
    "IncompatibleModel",
    "PrincipalHistory",
    "latest_event_ms",
    "latest_model",
    "load_history",
    "load_model",
    "save_model",
]

logger = logging.getLogger(__name__)

CURRENT_FILE = "current.json"  # names the model file the detector should load


class IncompatibleModel(ValueError):
    """A model file trained on other features than this version computes: retrain."""


_RANGE = (
    "event_time >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') "
    "AND event_time < fromUnixTimestamp64Milli({until:Int64}, 'UTC')"
)
_NAMES = "arrayMap(r -> replaceRegexpOne(r, '^.*[/:]', ''), resources)"
_OFFHOURS = (
    "(toDayOfWeek(event_time) >= 6 OR toHour(event_time) < {h0:UInt8} "
    "OR toHour(event_time) >= {h1:UInt8})"
)
_SERVICE = (
    "if(endsWith(source, '.amazonaws.com'), substring(source, 1, length(source) - 14), source)"
)
_DATA_READ = (  # detect.features.bucket.is_data_read; the names are constants, not user input
    f"error_code = '' AND concat({_SERVICE}, ':', toString(action)) IN ("
    + ", ".join(f"'{service}:{action}'" for service, action in sorted(DATA_READ_ACTIONS))
    + ")"
)
_BUCKETS_SQL = f"""
SELECT principal_key, intDiv(toUnixTimestamp64Milli(event_time), 60000) AS minute,
    count(), countIf(action_class = 'destructive'), countIf(action_class = 'privilege'),
    countIf(action_class = 'defense_evasion'), countIf(action_class != 'read'),
    countIf(error_code != ''), countIf({_OFFHOURS}), countIf(match(action, {{create:String}})),
    countIf(action_class = 'destructive'
            AND arrayExists(r -> match(r, {{prod:String}}), resources)),
    countIf({_DATA_READ}),
    groupUniqArrayArray({MAX_BUCKET_NAMES})({_NAMES}), groupUniqArray(region)
FROM {schema.EVENTS} FINAL WHERE {_RANGE}
GROUP BY principal_key, minute ORDER BY principal_key, minute"""
_CHURN_SQL = f"""
SELECT principal_key, intDiv(t, 60000) AS minute, name,
    minIf(t, action_class = 'destructive'), maxIf(t, created)
FROM (SELECT principal_key, toUnixTimestamp64Milli(event_time) AS t, action_class,
        match(action, {{create:String}}) AS created, arrayJoin(arrayDistinct({_NAMES})) AS name
      FROM {schema.EVENTS} FINAL
      WHERE {_RANGE} AND (action_class = 'destructive' OR match(action, {{create:String}})))
GROUP BY principal_key, minute, name"""
_SEEN_SQL = f"""
SELECT principal_key, d.1 AS dim, d.2 AS value, intDiv(min(t), 60000) AS minute
FROM (SELECT principal_key, toUnixTimestamp64Milli(event_time) AS t,
        arrayJoin([('action', toString(action)), ('service', toString(source)),
                   ('region', toString(region)), ('ip', source_ip),
                   ('destructive', if(action_class = 'destructive', toString(action), '')),
                   ('sensitive', if(action_class IN ('privilege', 'defense_evasion'),
                                    toString(action), '')),
                   ('prod', if(action_class = 'destructive'
                               AND arrayExists(r -> match(r, {{prod:String}}), resources),
                               toString(action), ''))]) AS d
      FROM {schema.EVENTS} FINAL WHERE {_RANGE})
WHERE NOT (d.1 IN ('destructive', 'sensitive', 'prod') AND d.2 = '')
GROUP BY principal_key, d ORDER BY principal_key, minute, value"""
_KIND_SQL = f"""
SELECT principal_key, topK(1)(actor_kind)[1] FROM {schema.EVENTS} FINAL WHERE {_RANGE}
GROUP BY principal_key"""
_NEW_FIELD = {
    "action": "new_action",
    "service": "new_service",
    "region": "new_region",
    "ip": "new_ip",
    "destructive": "new_destructive",
    "sensitive": "new_sensitive",
}  # "prod" has no bucket counter: it only seeds the streaming first-seen check


@dataclass
class PrincipalHistory:
    """One principal's stored history as minute buckets (ascending) and first-seen values."""

    key: str
    actor_kind: str
    buckets: list[Bucket] = field(default_factory=list)
    seen: dict[str, list[str]] = field(default_factory=dict)


def load_history(store: Store, *, since_ms: int, until_ms: int) -> Iterator[PrincipalHistory]:
    """Stored events in [since_ms, until_ms) as per-principal minute buckets, built in SQL.

    The bucket counts, names, churn times and first-seen counts are the same quantities
    `PrincipalState.observe` accumulates while streaming.
    """
    params: dict[str, Any] = {
        "since": since_ms,
        "until": until_ms,
        "create": CREATE_ACTION_RE,
        "prod": PROD_RESOURCE_RE,
        "h0": WORK_HOURS_UTC[0],
        "h1": WORK_HOURS_UTC[1],
    }
    kinds = {str(k): str(v) for k, v in store.query(_KIND_SQL, params)}
    by_key: dict[str, PrincipalHistory] = {}
    index: dict[tuple[str, int], Bucket] = {}
    for row in store.query(_BUCKETS_SQL, params):
        key, minute = str(row[0]), int(row[1])
        item = by_key.get(key)
        if item is None:
            item = by_key[key] = PrincipalHistory(key, kinds.get(key, "human"))
        n, destructive, privilege, evasion, writes, errors, offhours, creates, prod, data = (
            int(v) for v in row[2:12]
        )
        bucket = Bucket(
            minute,
            n=n,
            destructive=destructive,
            privilege=privilege,
            evasion=evasion,
            writes=writes,
            errors=errors,
            offhours=offhours,
            creates=creates,
            prod_destructive=prod,
            data_reads=data,
            resources=set(row[12]),
            regions=set(row[13]),
        )
        item.buckets.append(bucket)
        index[(key, minute)] = bucket
    for key, minute, name, deleted, created in store.query(_CHURN_SQL, params):
        target = index.get((str(key), int(minute)))
        if target is not None:
            target.add_churn(str(name), delete_ms=int(deleted), create_ms=int(created))
    for key, dim, value, minute in store.query(_SEEN_SQL, params):
        item = by_key.get(str(key))
        target = index.get((str(key), int(minute)))
        if item is None or target is None:
            continue
        values = item.seen.setdefault(str(dim), [])
        if len(values) < MAX_SEEN:
            values.append(str(value))
            name = _NEW_FIELD.get(str(dim))
            if name is not None:
                setattr(target, name, getattr(target, name) + 1)
    for item in by_key.values():
        for dim in SEEN_DIMENSIONS:
            item.seen.setdefault(dim, [])
        yield item


def latest_event_ms(store: Store) -> int:
    """Event time of the newest stored event (0 when there is none)."""
    rows = store.query(f"SELECT max(toUnixTimestamp64Milli(event_time)) FROM {schema.EVENTS}")
    return int(rows[0][0] or 0) if rows else 0


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
    from detect.anomaly.forest import DetectionModel

    model = joblib.load(path)
    if not isinstance(model, DetectionModel):
        raise TypeError(f"{path} does not hold a DetectionModel")
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
