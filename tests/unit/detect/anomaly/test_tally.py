"""Tally keeps its distinct-key count as items enter and leave the window, in or out of order,
and learns its high from the days the principal did not page."""

from __future__ import annotations

import random

from detect.anomaly.tally import Tally, TallyBook
from detect.features.bucket import DAY_MS

WINDOW_MS = 600_000


def test_the_count_is_the_windows_distinct_keys_for_any_arrival_order() -> None:
    """Against a recount from scratch: items leave from the front only (an item that arrived
    late stays until the items before it have gone), so the window's keys are its items'."""
    rng = random.Random(7)
    tally = Tally(WINDOW_MS)
    now = 0
    for i in range(5_000):
        now += rng.choice((0, 1_000, 30_000, 120_000, 900_000))
        late = rng.random() < 0.1  # multi-region trails, backfills: a little out of order
        at = now - rng.randrange(WINDOW_MS * 2) if late else now
        key = f"secret-{rng.randrange(40)}"
        count = tally.add(at, f"e{i}", key)
        assert count == len({k for _, _, k in tally.items})
        assert set(tally.keys) == {k for _, _, k in tally.items}
        assert all(n > 0 for n in tally.keys.values())
    assert tally.day_high >= 1


def test_a_page_before_the_days_first_item_keeps_that_day_from_teaching() -> None:
    """Review (stop 55): a page before the tally's first item of the day flagged the day
    before -- which then taught nothing -- and left the paged day to teach its high. A day's
    4, then a page at the next day's start and 20 after it: the high stays 4, the 20 paged."""
    book = TallyBook(WINDOW_MS)
    for i in range(4):
        book.get("p").add(DAY_MS // 2 + i, f"a{i}", f"k{i}")
    book.mark_flagged("p", DAY_MS + 1_000)
    book.mark_flagged("new", DAY_MS + 1_000)  # a principal with no tally here yet
    for i in range(20):
        for principal in ("p", "new"):
            book.get(principal).add(DAY_MS + 60_000 + i, f"b{i}", f"k{i}")
    for principal in ("p", "new"):
        book.get(principal).add(2 * DAY_MS + 1, "c", "k")
    assert (book.get("p").high, book.get("p").paged) == (4.0, 20.0)
    assert (book.get("new").high, book.get("new").paged, book.get("new").days) == (0.0, 20.0, 1)


def test_a_page_delivered_late_flags_the_tallys_latest_day() -> None:
    tally = Tally(WINDOW_MS)
    tally.add(DAY_MS + 5, "a", "k")
    tally.mark_flagged(5)  # the day before: the tally's day is flagged, as before
    assert tally.flagged
