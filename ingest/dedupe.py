"""DedupeCache: bounded memory of recently stored event ids, so a re-sent event is counted once."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["BLOCK_IDS", "DedupeCache", "Searched"]

BLOCK_IDS = 131_072  # ids held as strings before they are packed into a run (~22 MB of them)
_SALT = "\x00leash-dedupe"  # makes a second, independent hash of the same id (see fingerprints)

Run = tuple[np.ndarray, np.ndarray]  # (first hashes, sorted; second hashes, in the same order)


class DedupeCache:
    """At least the newest `capacity` event ids; thread-safe.

    It is an optimisation for the `duplicates` count and for storage; the store's
    ReplacingMergeTree remains the guarantee for ids that were forgotten or raced.

    The newest ids (up to BLOCK_IDS) are held as strings. Then they are packed, on a thread of
    their own, into a sorted run of fingerprints: 16 bytes an id instead of the ~170 an id
    string costs as a dict entry (2M ids: ~32 MB instead of ~340 MB). A fingerprint is two
    64-bit keyed hashes of the id (Python's SipHash, keyed per process; the cache is seeded
    again at every start), so two different ids pass for one only if both hashes collide:
    about 2^-128 per pair. Runs of equal size are merged (a binary counter: a few runs, so a
    request's lookup is a few binary searches), and the oldest run is dropped once the others
    hold `capacity` ids, so the cache keeps between `capacity` and about twice as many.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._recent: set[str] = set()
        self._sealed: frozenset[str] = frozenset()  # ids being packed (still looked up as text)
        self._runs: list[Run] = []  # oldest first
        self._packing: threading.Thread | None = None
        self._lock = threading.Lock()

    def __contains__(self, event_id: object) -> bool:
        return isinstance(event_id, str) and self.seen([event_id])[0]

    def __len__(self) -> int:
        with self._lock:
            return len(self._recent) + len(self._sealed) + sum(len(r[0]) for r in self._runs)

    def search(self, event_ids: list[str]) -> Searched:
        """Which ids the packed runs hold: the costly half of `seen` (~1 ms for 1,000 ids),
        done before the caller's critical section; `seen` then only checks what is newer."""
        runs = self._runs
        return Searched(_in_runs(runs, event_ids), runs)

    def seen(self, event_ids: list[str], searched: Searched | None = None) -> list[bool]:
        """Whether each id is remembered; `searched`, this cache's `search` of the same ids,
        is used when no run was packed since (ids reach the runs only by a pack)."""
        with self._lock:
            recent, sealed, runs = self._recent, self._sealed, self._runs
            found = [i in recent or i in sealed for i in event_ids]
        if searched is None or searched.runs is not runs or len(searched.packed) != len(found):
            searched = Searched(_in_runs(runs, event_ids), runs)
        return [text or packed for text, packed in zip(found, searched.packed, strict=True)]

    def add_all(self, event_ids: Iterable[str]) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            self._recent.update(event_ids)
            if len(self._recent) >= min(BLOCK_IDS, self.capacity) and not self._sealed:
                self._sealed, self._recent = frozenset(self._recent), set()
                self._packing = threading.Thread(target=self._pack, name="dedupe-pack", daemon=True)
                self._packing.start()

    def wait_packed(self) -> None:
        """Return once the ids sealed so far are packed (tests; a pack takes ~0.1 s)."""
        packing = self._packing
        if packing is not None:
            packing.join()

    def _pack(self) -> None:
        first, second = fingerprints(list(self._sealed))
        runs = [*self._runs]  # only this thread replaces runs; seen() reads a snapshot
        run = _sorted(first, second)
        while runs and len(runs[-1][0]) <= len(run[0]):  # merge equal sizes: log(n) runs
            older = runs.pop()
            run = _sorted(np.concatenate((older[0], run[0])), np.concatenate((older[1], run[1])))
        runs.append(run)
        while len(runs) > 1 and sum(len(r[0]) for r in runs[1:]) >= self.capacity:
            runs.pop(0)
        with self._lock:
            self._runs, self._sealed = runs, frozenset()


@dataclass(frozen=True)
class Searched:
    """What `DedupeCache.search` found: per id whether `runs` (the runs then) held it."""

    packed: list[bool]
    runs: list[Run]


def _in_runs(runs: list[Run], event_ids: list[str]) -> list[bool]:
    found = [False] * len(event_ids)
    if runs and event_ids:
        first, second = fingerprints(event_ids)
        order = np.argsort(first)  # sorted keys: the binary searches walk memory in order
        first, second = first[order], second[order]
        for run in runs:
            for hit in np.flatnonzero(_member(run, first, second)):
                found[order[hit]] = True
    return found


def fingerprints(event_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Two independent 64-bit keyed hashes of each id."""
    count = len(event_ids)
    first = np.fromiter((hash(i) for i in event_ids), dtype=np.int64, count=count)
    second = np.fromiter((hash(i + _SALT) for i in event_ids), dtype=np.int64, count=count)
    return first, second


def _sorted(first: np.ndarray, second: np.ndarray) -> Run:
    order = np.argsort(first, kind="stable")  # (two sorted halves: merged in linear time)
    return first[order], second[order]


def _member(run: Run, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """For each (first, second) hash pair, whether the run holds it."""
    run_first, run_second = run
    start = np.searchsorted(run_first, first, side="left")
    stop = np.searchsorted(run_first, first, side="right")
    found = np.zeros(len(first), dtype=bool)
    for index in np.flatnonzero(stop > start):  # the first hash matched: almost always the id
        found[index] = bool((run_second[start[index] : stop[index]] == second[index]).any())
    return found
