"""DedupeCache: bounded memory of recently stored event ids, so a re-sent event is counted once."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

__all__ = ["DedupeCache"]


class DedupeCache:
    """Insertion-ordered set that forgets its oldest ids past `capacity`.

    It is an optimisation for the `duplicates` count and for storage; the store's
    ReplacingMergeTree remains the guarantee for ids that were forgotten or raced.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add_all(self, event_ids: Iterable[str]) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            ids = self._ids
            for event_id in event_ids:
                ids[event_id] = None
            while len(ids) > self.capacity:
                ids.popitem(last=False)
