"""Versioned action catalogue: CloudTrail (eventSource, eventName) -> one action class."""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType

__all__ = [
    "ACTION_CLASSES",
    "HARMFUL_CLASSES",
    "Catalogue",
    "default_catalogue",
    "load_catalogue",
]

# Ordered by increasing severity; the order resolves name-only conflicts (most severe wins).
ACTION_CLASSES: tuple[str, ...] = ("read", "write", "destructive", "privilege", "defense_evasion")
# the classes of calls that do harm when they go wrong: deleting, changing permissions, blinding
# monitoring (the gate asks about them, incidents attach them, triage and vetting judge them)
HARMFUL_CLASSES = frozenset({"destructive", "privilege", "defense_evasion"})

_HEADER = ("event_source", "event_name", "action_class")
_SUFFIX = ".amazonaws.com"
_VERSION_RE = re.compile(r"#\s*version:\s*(\S+)\s*")
# API-version suffixes CloudTrail keeps on some names: UpdateFunctionCode20150331v2, *2020_05_31.
_API_SUFFIX_RE = re.compile(r"^(?P<base>[A-Za-z]+?)(?:\d{8}|\d{4}_\d{2}_\d{2})(?:v\d+)?$")
# Verb prefixes at a CamelCase boundary (GetObject, Scan; not "Getaway").
_READ_RE = re.compile(
    r"(?:Get|List|Describe|Head|Lookup|Search|Scan|Query|BatchGet|Check|Validate|Estimate"
    r"|Preview|Select|Download)(?![a-z])"
)
_DESTRUCTIVE_RE = re.compile(
    r"(?:Delete|BatchDelete|Terminate|Remove|Purge|Destroy|Deregister)(?![a-z])"
)
_CACHE_MAX = 1 << 16  # derived (non-catalogue) pairs kept; bounds memory against junk names


def _heuristic_class(event_name: str) -> str:
    """Class from the eventName's verb alone: read, destructive, or write."""
    if _READ_RE.match(event_name):
        return "read"
    if _DESTRUCTIVE_RE.match(event_name):
        return "destructive"
    return "write"


def _full_source(event_source: str) -> str:
    return event_source if event_source.endswith(_SUFFIX) else event_source + _SUFFIX


@dataclass(frozen=True)
class Catalogue:
    """Immutable (event_source, event_name) -> action class table with a cached fallback."""

    version: str
    entries: Mapping[tuple[str, str], str]
    _lookup: dict[tuple[str, str], str] = field(init=False, repr=False, compare=False)
    _cache: dict[tuple[str, str], str] = field(init=False, repr=False, compare=False)
    _sources: frozenset[str] = field(init=False, repr=False, compare=False)
    _by_name: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.version:
            raise ValueError("catalogue version must be non-empty")
        entries: dict[tuple[str, str], str] = {}
        by_name: dict[str, str] = {}
        for (source, name), cls in self.entries.items():
            if cls not in ACTION_CLASSES:
                raise ValueError(f"unknown action class {cls!r} for {source} {name}")
            entries[(_full_source(source), name)] = cls
            prev = by_name.get(name)
            if prev is None or ACTION_CLASSES.index(cls) > ACTION_CLASSES.index(prev):
                by_name[name] = cls
        lookup = dict(entries)
        for (source, name), cls in entries.items():  # suffix-less aliases: one dict hit either way
            lookup[(source.removesuffix(_SUFFIX), name)] = cls
        object.__setattr__(self, "entries", MappingProxyType(entries))
        object.__setattr__(self, "_lookup", lookup)
        object.__setattr__(self, "_cache", {})
        object.__setattr__(self, "_sources", frozenset(source for source, _ in entries))
        object.__setattr__(self, "_by_name", by_name)

    def classify(self, event_source: str, event_name: str) -> str:
        """Action class of a call; never raises, unknown calls get a derived class."""
        key = (event_source, event_name)
        cls = self._lookup.get(key)
        if cls is None:
            cls = self._cache.get(key)
            if cls is None:
                cls = self._derive(event_source, event_name)
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.clear()
                self._cache[key] = cls
        return cls

    def is_known(self, event_source: str, event_name: str) -> bool:
        """True when the pair has an explicit catalogue entry (eventSource suffix optional)."""
        return (event_source, event_name) in self._lookup

    def _derive(self, event_source: str, event_name: str) -> str:
        source = _full_source(event_source)
        match = _API_SUFFIX_RE.match(event_name)
        names = (event_name, match["base"]) if match else (event_name,)
        for name in names[1:]:
            cls = self.entries.get((source, name))
            if cls is not None:
                return cls
        if source not in self._sources:
            for name in names:
                cls = self._by_name.get(name)
                if cls is not None:
                    return cls
        return _heuristic_class(names[-1])


def _parse(text: str, origin: str) -> Catalogue:
    version: str | None = None
    header_seen = False
    entries: dict[tuple[str, str], str] = {}
    first_line: dict[tuple[str, str], int] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("#"):
            if version is None:
                match = _VERSION_RE.fullmatch(line)
                if match is None:
                    raise ValueError(f"{origin}:{lineno}: first comment must be '# version: <v>'")
                version = match[1]
            continue
        if not line:
            continue
        if version is None:
            raise ValueError(f"{origin}:{lineno}: missing '# version: <v>' line before data")
        fields = tuple(f.strip() for f in next(csv.reader([line])))
        if not header_seen:
            if fields != _HEADER:
                raise ValueError(f"{origin}:{lineno}: expected header {','.join(_HEADER)!r}")
            header_seen = True
            continue
        if len(fields) != 3 or not all(fields):
            raise ValueError(f"{origin}:{lineno}: expected 3 non-empty fields, got {line!r}")
        source, name, cls = fields
        if cls not in ACTION_CLASSES:
            raise ValueError(f"{origin}:{lineno}: unknown action class {cls!r}")
        if not source.endswith(_SUFFIX):
            raise ValueError(f"{origin}:{lineno}: event_source {source!r} must end with {_SUFFIX}")
        key = (source, name)
        if key in entries:
            raise ValueError(f"{origin}:{lineno}: {source} {name} repeats line {first_line[key]}")
        entries[key] = cls
        first_line[key] = lineno
    if version is None or not header_seen:
        raise ValueError(f"{origin}: missing version line or header")
    if not entries:
        raise ValueError(f"{origin}: catalogue has no entries")
    return Catalogue(version=version, entries=entries)


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Load and validate a catalogue CSV; None loads the packaged actions.csv."""
    if path is None:
        resource = resources.files(__name__).joinpath("actions.csv")
        return _parse(resource.read_text(encoding="utf-8"), "actions.csv")
    return _parse(Path(path).read_text(encoding="utf-8"), str(path))


@functools.cache
def default_catalogue() -> Catalogue:
    """The packaged catalogue, loaded once per process."""
    return load_catalogue()
