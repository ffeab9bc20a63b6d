"""The dedupe cache: every id of the newest `capacity` found, no other, in bounded memory."""

from __future__ import annotations

import tracemalloc
import uuid

from ingest import dedupe
from ingest.dedupe import DedupeCache


def ids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


def add(cache: DedupeCache, event_ids: list[str], batch: int = 500) -> None:
    for start in range(0, len(event_ids), batch):
        cache.add_all(event_ids[start : start + batch])
        cache.wait_packed()


def test_the_newest_capacity_ids_are_found_packed_or_not_and_fresh_ones_are_not() -> None:
    cache = DedupeCache(2000)
    added = ids(9000)
    add(cache, added)
    assert all(cache.seen(added[-2000:]))  # the newest 2,000, most of them packed into runs
    assert not any(cache.seen(ids(5000)))
    assert 2000 <= len(cache) <= 2 * 2000 + 2000  # the oldest runs were dropped
    assert not any(cache.seen(added[:1000]))
    assert added[-1] in cache and "not-an-id" not in cache


def test_a_search_made_before_a_pack_still_finds_what_the_pack_moved() -> None:
    """normalize() searches the runs off the event loop; claim() checks what is newer. An id
    packed in between is in neither the search's runs nor the text sets any more."""
    cache = DedupeCache(1000)
    first = ids(999)
    add(cache, first)
    searched = cache.search(first)  # the runs as they are: none hold `first`
    cache.add_all(ids(1))  # the 1,000th id: `first` is packed into a run
    cache.wait_packed()
    assert all(cache.seen(first, searched))


def test_packed_ids_cost_a_fraction_of_their_strings() -> None:
    """16 bytes an id once packed (an OrderedDict of the id strings: ~170 bytes an id)."""
    tracemalloc.start(3)  # (frames enough to reach this file from uuid.__str__)
    try:
        cache = DedupeCache(200_000)
        for _ in range(200):
            cache.add_all(ids(1000))  # each batch's strings are dropped once added
        cache.wait_packed()
        # only what this test and the cache allocated: the process's other threads (servers
        # and workers earlier tests left running) allocate meanwhile, more on a loaded machine
        # (12.16 MB once against the bound)
        mine = tracemalloc.take_snapshot().filter_traces(
            [
                tracemalloc.Filter(True, __file__, all_frames=True),
                tracemalloc.Filter(True, dedupe.__file__, all_frames=True),
            ]
        )
        held = sum(stat.size for stat in mine.statistics("filename"))
    finally:
        tracemalloc.stop()
    assert len(cache) == 200_000
    assert held < 200_000 * 60  # ~131k packed at 16 B, the rest still as strings
