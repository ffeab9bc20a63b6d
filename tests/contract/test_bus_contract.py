"""One suite for every Bus backend: ordering, offsets, commits, groups, pause/resume and lag."""

from __future__ import annotations

import time

from ingest.bus import Bus, Record, Subscriber

DEADLINE_S = 30.0  # seconds; a Kafka group join takes ~3 s, so this is only a hang guard
POLL_S = 0.2  # seconds per poll


def publish_each(bus: Bus, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    """One publish call per message: each becomes its own Kafka message with its own offset."""
    publisher = bus.publisher()
    for future in [publisher.publish(topic, [m]) for m in messages]:
        future.result(timeout=10)


def drain(sub: Subscriber, count: int) -> list[Record]:
    """Poll until `count` records arrived (or the hang guard trips)."""
    got: list[Record] = []
    deadline = time.monotonic() + DEADLINE_S
    while len(got) < count and time.monotonic() < deadline:
        got.extend(sub.poll(count - len(got), POLL_S))
    return got


def next_offsets(records: list[Record]) -> dict[tuple[str, int], int]:
    return {(r.topic, r.partition): r.offset + 1 for r in records}


def test_publish_resolves_and_each_key_keeps_its_order(bus: Bus, topic: str) -> None:
    messages = [(f"k{i % 4}".encode(), f"v{i}".encode()) for i in range(40)]
    bus.publisher().publish(topic, messages).result(timeout=10)
    sub = bus.subscriber([topic], "g")
    got = drain(sub, 40)
    assert sorted(r.value for r in got) == sorted(v for _, v in messages)
    for key in {k for k, _ in messages}:
        sent = [v for k, v in messages if k == key]
        assert [r.value for r in got if r.key == key] == sent
        assert len({r.partition for r in got if r.key == key}) == 1
    sub.close()


def test_offsets_grow_per_partition(bus: Bus, topic: str) -> None:
    publish_each(bus, topic, [(b"same", f"v{i}".encode()) for i in range(5)])
    sub = bus.subscriber([topic], "g")
    got = drain(sub, 5)
    offsets = [r.offset for r in got]
    assert offsets == sorted(offsets) and len(set(offsets)) == 5
    assert all(r.topic == topic and r.timestamp_ms > 0 for r in got)
    sub.close()


def test_commit_is_the_next_offset_and_a_new_member_resumes_there(bus: Bus, topic: str) -> None:
    publish_each(bus, topic, [(b"k", f"v{i}".encode()) for i in range(5)])
    first = bus.subscriber([topic], "g")
    got = drain(first, 5)
    first.commit(next_offsets(got[:3]))
    first.close()
    second = bus.subscriber([topic], "g")
    rest = drain(second, 2)
    assert [r.value for r in rest] == [b"v3", b"v4"]
    assert second.poll(10, POLL_S) == []
    second.close()


def test_uncommitted_records_are_read_again(bus: Bus, topic: str) -> None:
    publish_each(bus, topic, [(b"k", b"a"), (b"k", b"b")])
    first = bus.subscriber([topic], "g")
    assert len(drain(first, 2)) == 2
    first.close()
    again = bus.subscriber([topic], "g")
    assert [r.value for r in drain(again, 2)] == [b"a", b"b"]
    again.close()


def test_other_groups_read_independently(bus: Bus, topic: str) -> None:
    publish_each(bus, topic, [(b"k", b"a")])
    one, two = bus.subscriber([topic], "g1"), bus.subscriber([topic], "g2")
    assert [r.value for r in drain(one, 1)] == [b"a"]
    assert [r.value for r in drain(two, 1)] == [b"a"]
    one.close()
    two.close()


def test_two_members_of_a_group_share_the_partitions(bus: Bus, topic: str) -> None:
    a, b = bus.subscriber([topic], "g"), bus.subscriber([topic], "g")
    seen: dict[str, set[bytes]] = {"a": set(), "b": set()}
    sent: set[bytes] = set()
    publisher = bus.publisher()
    deadline = time.monotonic() + DEADLINE_S
    round_no = 0
    while (not seen["a"] or not seen["b"]) and time.monotonic() < deadline:
        batch = [(f"key-{round_no}-{i}".encode(), f"v{round_no}-{i}".encode()) for i in range(12)]
        publisher.publish(topic, batch).result(timeout=10)
        sent |= {v for _, v in batch}
        for name, sub in (("a", a), ("b", b)):
            records = sub.poll(100, POLL_S)
            seen[name] |= {r.value for r in records}
            sub.commit(next_offsets(records))
        round_no += 1
    while seen["a"] | seen["b"] != sent and time.monotonic() < deadline:
        for name, sub in (("a", a), ("b", b)):
            records = sub.poll(100, POLL_S)
            seen[name] |= {r.value for r in records}
            sub.commit(next_offsets(records))
    assert seen["a"] and seen["b"], "both members must receive records"
    assert seen["a"] | seen["b"] == sent
    a.close()
    b.close()


def test_paused_member_gets_nothing_until_resumed(bus: Bus, topic: str) -> None:
    publish_each(bus, topic, [(b"k", b"first")])
    sub = bus.subscriber([topic], "g")
    assert [r.value for r in drain(sub, 1)] == [b"first"]
    sub.pause()
    publish_each(bus, topic, [(b"k", b"second"), (b"k", b"third")])
    assert [sub.poll(10, POLL_S) for _ in range(3)] == [[], [], []]
    sub.resume()
    assert [r.value for r in drain(sub, 2)] == [b"second", b"third"]
    sub.close()


def test_poll_for_zero_records_consumes_nothing(bus: Bus, topic: str) -> None:
    publish_each(bus, topic, [(b"k", b"a")])
    sub = bus.subscriber([topic], "g")
    for _ in range(3):
        assert sub.poll(0, POLL_S) == []
    assert [r.value for r in drain(sub, 1)] == [b"a"]
    sub.close()


def test_lag_counts_what_the_group_has_not_committed(bus: Bus, topic: str) -> None:
    publish_each(bus, topic, [(f"k{i}".encode(), b"v") for i in range(6)])
    sub = bus.subscriber([topic], "g")
    got = drain(sub, 6)
    assert sub.lag() == 6
    sub.commit(next_offsets(got[:1]))
    assert sub.lag() == 6 - sum(
        1 for r in got if r.partition == got[0].partition and r.offset <= got[0].offset
    )
    sub.commit(next_offsets(got))
    assert sub.lag() == 0
    sub.close()
