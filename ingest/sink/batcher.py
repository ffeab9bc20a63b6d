"""RowBatcher: collects items until max_rows or max_age_s (injected clock) says flush."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["RowBatcher"]

T = TypeVar("T")


class RowBatcher(Generic[T]):
    """A batch is ready when it holds `max_rows` items or its oldest item is `max_age_s` old."""

    def __init__(
        self, *, max_rows: int, max_age_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_rows = max_rows
        self.max_age_s = max_age_s
        self._clock = clock
        self._items: list[T] = []
        self._started: float | None = None

    def add(self, item: T) -> None:
        if self._started is None:
            self._started = self._clock()
        self._items.append(item)

    def extend(self, items: list[T]) -> None:
        for item in items:
            self.add(item)

    def __len__(self) -> int:
        return len(self._items)

    def is_ready(self) -> bool:
        if not self._items:
            return False
        if len(self._items) >= self.max_rows:
            return True
        assert self._started is not None
        return self._clock() - self._started >= self.max_age_s

    def drain(self) -> list[T]:
        items, self._items, self._started = self._items, [], None
        return items
