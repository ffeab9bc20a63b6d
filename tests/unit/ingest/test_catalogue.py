"""Unit tests for the action catalogue data file and its loader (ingest.catalogue)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import ingest.catalogue as catalogue_module
from ingest.catalogue import ACTION_CLASSES, Catalogue, default_catalogue, load_catalogue

DATASETS = Path(__file__).resolve().parents[4] / "shared" / "datasets"
PACKAGED_CSV = Path(catalogue_module.__file__).with_name("actions.csv")
HEADER = "event_source,event_name,action_class"

Pair = tuple[str, str]


# --------------------------------------------------------------------------- dataset extraction


def _pair(record: Any) -> Pair | None:
    """(eventSource, eventName) of one CloudTrail record; keys may be lower-case."""
    if not isinstance(record, dict):
        return None
    low = {str(k).lower(): v for k, v in record.items()}
    source, name = low.get("eventsource"), low.get("eventname")
    if isinstance(source, str) and isinstance(name, str) and source and name:
        return source, name
    return None


def _records_in(doc: Any) -> Iterator[Any]:
    """Records of a parsed file: {"Records": [...]}, a bare array, or a single record."""
    if isinstance(doc, list):
        yield from doc
    elif isinstance(doc, dict) and isinstance(doc.get("Records"), list):
        yield from doc["Records"]
    else:
        yield doc


def _dataset_records(root: Path) -> Iterator[tuple[str, Any]]:
    """(source label, record) for every CloudTrail record in the shared datasets."""
    for path in sorted((root / "invictus-ir_aws_dataset" / "CloudTrail").glob("*.json")):
        for rec in _records_in(json.loads(path.read_text(encoding="utf-8"))):
            yield "invictus", rec
    stratus = root / "stratus-red-team_detonation-logs" / "detonation-logs"
    for path in sorted(stratus.glob("*.json")):
        for rec in _records_in(json.loads(path.read_text(encoding="utf-8"))):
            yield "stratus", rec
    traildiscover = root / "traildiscover" / "docs"
    for path in sorted((traildiscover / "logExamples").glob("*.json.cloudtrail")):
        for rec in _records_in(json.loads(path.read_text(encoding="utf-8"))):
            yield "traildiscover-examples", rec
    for entry in json.loads((traildiscover / "events.json").read_text(encoding="utf-8")):
        yield "traildiscover-events", entry  # catalogue entries carry eventSource/eventName
    panther = root / "panther-analysis"
    for line in (panther / "cloudtrail_unit_tests.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            yield "panther-tests", json.loads(line).get("log")
    for path in sorted((panther / "test_scenarios").rglob("*cloudtrail*.yml")):
        for rec in yaml.safe_load(path.read_text(encoding="utf-8")).get("Logs") or []:
            yield "panther-scenarios", rec
    # OTRF: JSON-lines CloudTrail inside zips. (The honeybucket CSV has no eventSource column.)
    for path in sorted((root / "otrf_security-datasets").rglob("*.zip")):
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if member.endswith(".json"):
                    for line in archive.read(member).decode("utf-8").splitlines():
                        if line.strip():
                            yield "otrf", json.loads(line)


@pytest.fixture(scope="module")
def dataset_pairs() -> dict[Pair, set[str]]:
    if not (DATASETS / "README.md").is_file():
        pytest.skip(f"shared CloudTrail datasets not found at {DATASETS}")
    pairs: dict[Pair, set[str]] = {}
    for label, rec in _dataset_records(DATASETS):
        pair = _pair(rec)
        if pair is not None:
            pairs.setdefault(pair, set()).add(label)
    return pairs


def test_every_dataset_source_contributes(dataset_pairs: dict[Pair, set[str]]) -> None:
    labels = set().union(*dataset_pairs.values())
    assert labels == {
        "invictus",
        "stratus",
        "traildiscover-examples",
        "traildiscover-events",
        "panther-tests",
        "panther-scenarios",
        "otrf",
    }
    assert len(dataset_pairs) >= 600  # 625 at catalogue 2026.11.1; guards a silently broken walk


def test_every_dataset_pair_is_explicitly_catalogued(dataset_pairs: dict[Pair, set[str]]) -> None:
    cat = default_catalogue()
    missing = sorted(
        f"{s} {n} ({','.join(sorted(dataset_pairs[(s, n)]))})"
        for s, n in dataset_pairs
        if not cat.is_known(s, n)
    )
    assert not missing, f"{len(missing)} dataset pairs missing from actions.csv:\n" + "\n".join(
        missing
    )


# --------------------------------------------------------------------------- classification


@pytest.mark.parametrize(
    ("source", "name", "expected"),
    [
        pytest.param(
            "cloudtrail.amazonaws.com", "StopLogging", "defense_evasion", id="stop-logging"
        ),
        pytest.param(
            "cloudtrail.amazonaws.com", "DeleteTrail", "defense_evasion", id="delete-trail"
        ),
        pytest.param(
            "guardduty.amazonaws.com", "DeleteDetector", "defense_evasion", id="gd-delete"
        ),
        pytest.param("ec2.amazonaws.com", "DeleteFlowLogs", "defense_evasion", id="flow-logs"),
        pytest.param("rds.amazonaws.com", "DeleteDBInstance", "destructive", id="delete-db"),
        pytest.param("ec2.amazonaws.com", "TerminateInstances", "destructive", id="terminate"),
        pytest.param("kms.amazonaws.com", "ScheduleKeyDeletion", "destructive", id="kms-delete"),
        pytest.param("s3.amazonaws.com", "DeleteObjects", "destructive", id="s3-delete-objects"),
        pytest.param("iam.amazonaws.com", "AttachRolePolicy", "privilege", id="attach-role-pol"),
        pytest.param("iam.amazonaws.com", "CreateAccessKey", "privilege", id="create-access-key"),
        pytest.param("s3.amazonaws.com", "PutBucketPolicy", "privilege", id="bucket-policy"),
        pytest.param("ec2.amazonaws.com", "ModifySnapshotAttribute", "privilege", id="share-snap"),
        pytest.param("ec2.amazonaws.com", "DescribeInstances", "read", id="describe-instances"),
        pytest.param("secretsmanager.amazonaws.com", "GetSecretValue", "read", id="get-secret"),
        pytest.param("sts.amazonaws.com", "AssumeRole", "read", id="assume-role"),
        pytest.param("signin.amazonaws.com", "ConsoleLogin", "read", id="console-login"),
        pytest.param("sts.amazonaws.com", "GetFederationToken", "privilege", id="federation"),
        pytest.param("ec2.amazonaws.com", "RunInstances", "write", id="run-instances"),
        pytest.param(
            "lambda.amazonaws.com", "UpdateFunctionCode20150331v2", "write", id="lambda-versioned"
        ),
        # not in the catalogue: derived
        pytest.param("widgets.amazonaws.com", "DeleteWidget", "destructive", id="heuristic-delete"),
        pytest.param("widgets.amazonaws.com", "ListWidgets", "read", id="heuristic-list"),
        pytest.param("widgets.amazonaws.com", "BatchGetWidgets", "read", id="heuristic-batchget"),
        pytest.param("widgets.amazonaws.com", "Getaway", "write", id="heuristic-word-boundary"),
        pytest.param("widgets.amazonaws.com", "SpinWidget", "write", id="heuristic-default"),
        pytest.param("widgets.amazonaws.com", "PutKeyPolicy", "privilege", id="name-only-match"),
        pytest.param("elasticloadbalancing", "DeleteRule", "destructive", id="known-src-no-borrow"),
        pytest.param(
            "lambda.amazonaws.com", "DeleteFunction20991231v7", "destructive", id="api-suffix"
        ),
        # eventSource without the .amazonaws.com suffix
        pytest.param("ec2", "DescribeInstances", "read", id="short-source"),
        pytest.param("cloudtrail", "StopLogging", "defense_evasion", id="short-source-evasion"),
    ],
)
def test_classify(source: str, name: str, expected: str) -> None:
    assert default_catalogue().classify(source, name) == expected


def test_classify_is_stable_across_repeated_calls() -> None:
    cat = load_catalogue()
    first = [cat.classify("widgets", f"DeleteWidget{i}") for i in range(3)]
    again = [cat.classify("widgets", f"DeleteWidget{i}") for i in range(3)]
    assert first == again == ["destructive"] * 3


def test_is_known_only_for_explicit_entries() -> None:
    cat = default_catalogue()
    assert cat.is_known("iam.amazonaws.com", "AttachUserPolicy")
    assert cat.is_known("iam", "AttachUserPolicy")
    assert not cat.is_known("iam.amazonaws.com", "attachuserpolicy")  # names are case-sensitive
    assert not cat.is_known("widgets.amazonaws.com", "DeleteWidget")
    cat.classify("widgets.amazonaws.com", "DeleteWidget")  # a cached derivation is not "known"
    assert not cat.is_known("widgets.amazonaws.com", "DeleteWidget")


def test_default_catalogue_is_loaded_once() -> None:
    assert default_catalogue() is default_catalogue()


def test_catalogue_rejects_unknown_class() -> None:
    with pytest.raises(ValueError, match="unknown action class"):
        Catalogue(version="1", entries={("ec2.amazonaws.com", "RunInstances"): "execute"})


# --------------------------------------------------------------------------- the data file


def test_version_is_read_from_the_file() -> None:
    first_line = PACKAGED_CSV.read_text(encoding="utf-8").splitlines()[0]
    cat = load_catalogue()
    assert first_line == f"# version: {cat.version}"
    assert load_catalogue(PACKAGED_CSV).version == cat.version


def test_version_of_a_custom_file(tmp_path: Path) -> None:
    path = tmp_path / "custom.csv"
    path.write_text(f"# version: 9.9.9\n# note\n{HEADER}\nfoo.amazonaws.com,Bar,write\n")
    cat = load_catalogue(path)
    assert cat.version == "9.9.9"
    assert dict(cat.entries) == {("foo.amazonaws.com", "Bar"): "write"}


def _data_rows() -> list[tuple[str, str, str]]:
    lines = [
        ln
        for ln in PACKAGED_CSV.read_text(encoding="utf-8").splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert lines[0] == HEADER
    rows = [tuple(ln.split(",")) for ln in lines[1:]]
    assert all(len(r) == 3 for r in rows)
    return [(r[0], r[1], r[2]) for r in rows]


def test_packaged_file_is_sorted_unique_and_uses_every_class() -> None:
    rows = _data_rows()
    keys = [(s, n) for s, n, _ in rows]
    assert keys == sorted(keys), "actions.csv must be sorted by event_source, then event_name"
    assert len(set(keys)) == len(keys)
    assert {c for _, _, c in rows} == set(ACTION_CLASSES)
    assert all(s.endswith(".amazonaws.com") for s, _, _ in rows)
    assert len(load_catalogue().entries) == len(rows)


def test_action_classes() -> None:
    assert ACTION_CLASSES == ("read", "write", "destructive", "privilege", "defense_evasion")


# --------------------------------------------------------------------------- malformed files

_GOOD = "ec2.amazonaws.com,RunInstances,write"


def _lines(*lines: str) -> str:
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param(
            _lines("# version: 1", HEADER, _GOOD, "ec2.amazonaws.com,RunInstances2,execute"),
            r":4: unknown action class 'execute'",
            id="bad-class",
        ),
        pytest.param(
            _lines("# version: 1", HEADER, _GOOD, "ec2.amazonaws.com,StopInstances"),
            r":4: expected 3 non-empty fields",
            id="too-few-fields",
        ),
        pytest.param(
            _lines("# version: 1", HEADER, "ec2.amazonaws.com,,write"),
            r":3: expected 3 non-empty fields",
            id="empty-field",
        ),
        pytest.param(
            _lines("# version: 1", "# c", "", HEADER, _GOOD, _GOOD),
            r":6: ec2.amazonaws.com RunInstances repeats line 5",
            id="duplicate",
        ),
        pytest.param(
            _lines("# version: 1", "source,name,class", _GOOD),
            r":2: expected header",
            id="bad-header",
        ),
        pytest.param(
            _lines("# version: 1", _GOOD),
            r":2: expected header",
            id="missing-header",
        ),
        pytest.param(
            _lines("# a catalogue", "# version: 1", HEADER, _GOOD),
            r":1: first comment must be '# version: <v>'",
            id="version-not-first",
        ),
        pytest.param(
            _lines(HEADER, _GOOD),
            r":1: missing '# version: <v>'",
            id="no-version",
        ),
        pytest.param(
            _lines("# version: 1", HEADER, "ec2,RunInstances,write"),
            r":3: event_source 'ec2' must end with .amazonaws.com",
            id="short-source-in-file",
        ),
        pytest.param(_lines("# version: 1", HEADER), r"no entries", id="empty"),
    ],
)
def test_malformed_csv_raises_naming_the_line(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "actions.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=match) as excinfo:
        load_catalogue(path)
    assert str(path) in str(excinfo.value)


def _pairs_from(records: Iterable[Any]) -> list[Pair]:
    return [p for p in map(_pair, records) if p is not None]


def test_pair_extraction_handles_lower_case_keys() -> None:
    records = [
        {"eventsource": "s3.amazonaws.com", "eventname": "GetObject"},
        {"eventSource": "ec2.amazonaws.com", "eventName": "RunInstances"},
        {"eventName": "ConsoleLogin"},  # no source: not a pair
        None,
    ]
    assert _pairs_from(records) == [
        ("s3.amazonaws.com", "GetObject"),
        ("ec2.amazonaws.com", "RunInstances"),
    ]
