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


def test_the_day_after_a_paged_day_teaches_again_and_a_page_left_behind_flags_nothing() -> None:
    """A paged day's 20 teach nothing; the next quiet day's 6 do. A page of a day the tally has
    left behind (a batch across midnight: the engine's pages come at its end) does not flag the
    day after it, which is not the incident's."""
    tally = Tally(WINDOW_MS)
    tally.add(5, "a", "k0")
    tally.mark_flagged(DAY_MS + 5)
    for i in range(20):
        tally.add(DAY_MS + 10 + i, f"b{i}", f"k{i}")
    for i in range(6):
        tally.add(2 * DAY_MS + 10 + i, f"c{i}", f"k{i}")
    tally.mark_flagged(DAY_MS + 50)  # day 1's page, delivered on day 2
    assert not tally.flagged
    tally.add(3 * DAY_MS, "d", "k")
    assert (tally.high, tally.paged) == (6.0, 20.0)


def test_two_paged_days_ahead_are_both_remembered() -> None:
    """Review: keeping only the latest paged day let an earlier one teach when its items came
    after the later page."""
    tally = Tally(WINDOW_MS)
    tally.add(5, "a", "k0")
    tally.mark_flagged(DAY_MS + 5)
    tally.mark_flagged(2 * DAY_MS + 5)
    for day, count in ((1, 20), (2, 5)):
        for i in range(count):
            tally.add(day * DAY_MS + 10 + i, f"{day}-{i}", f"k{i}")
    tally.add(3 * DAY_MS, "d", "k")
    # day 1 taught only day 0's 1; day 2 what day 1 reached too (a daily job's rule): 5
    assert (tally.high, tally.paged) == (5.0, 20.0)
