"""The shortcuts OrgMemory.observe takes on every event keep what the long way kept: a network's
users counted only as far as they decide (principals that paged do not vouch), the earliest
sighting kept for a late event without forgetting anyone, and the directory user's sign-in steps
and cross-account callers as before."""

from __future__ import annotations

from collections import OrderedDict
from datetime import timedelta
from typing import Any

from detect.context.org import SHARED_NET_USERS, OrgMemory, _earliest
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event, portal_step

OFFICE = "198.51.100.7"


def person(name: str, minutes: float = 0, **extra: Any) -> AuditEvent:
    return make_event(
        role="AWSReservedSSO_Developer_4f2a9c1e",
        session=f"{name}@example.com",
        sourceIPAddress=OFFICE,
        at=BASE_TIME + timedelta(minutes=minutes),
        **extra,
    )


def ms(minutes: float) -> int:
    return int((BASE_TIME + timedelta(minutes=minutes)).timestamp() * 1000)


def test_a_network_full_of_vouching_users_takes_no_more_but_paged_ones_leave_room() -> None:
    org = OrgMemory()
    for i, name in enumerate(("ann", "bob", "cy")):  # SHARED_NET_USERS + 1 that vouch
        org.observe(person(name, i))
    assert SHARED_NET_USERS == 2
    org.observe(person("dee", 5))
    net = "198.51.0.0/16"
    dee = person("dee").principal_key
    assert dee not in org._net_users[net]  # three vouch already: no need to remember her
    # two of the three page: one vouches, so the next user is remembered (the counting stops
    # only past SHARED_NET_USERS vouching users, never at the first flagged one)
    org.mark_flagged(person("ann").principal_key)
    org.mark_flagged(person("bob").principal_key)
    org.observe(person("dee", 6))
    assert dee in org._net_users[net]
    assert org.network_of_others(net, person("eve").principal_key)
    # a user already remembered is not added again, and the set stays as it was
    before = set(org._net_users[net])
    org.observe(person("dee", 7))
    assert org._net_users[net] == before


def test_a_late_event_keeps_the_earliest_sighting_and_a_known_key_is_not_forgotten() -> None:
    memory: OrderedDict[str, int] = OrderedDict()
    _earliest(memory, "a", 500, 2)
    _earliest(memory, "b", 400, 2)
    _earliest(memory, "a", 900, 2)  # later: kept at 500, but most recently seen now
    assert memory == {"a": 500, "b": 400} and list(memory) == ["b", "a"]
    _earliest(memory, "a", 100, 2)  # a late event: earlier than what was kept
    assert memory["a"] == 100
    _earliest(memory, "c", 700, 2)  # past the cap the least recently seen goes: b, not a
    assert list(memory.items()) == [("a", 100), ("c", 700)]


def test_observe_keeps_the_earliest_time_of_an_identity_read_out_of_order() -> None:
    org = OrgMemory()
    org.observe(person("ann", 60))
    org.observe(person("ann", 0))  # a partition running behind
    org.observe(person("ann", 90))
    key = person("ann").principal_key
    assert org.known_for_ms(key, ms(120)) == ms(120) - ms(0)
    assert org.watched_ms("123456789012", ms(120)) == ms(120) - ms(0)


def test_a_cross_account_caller_makes_both_accounts_known_and_only_the_events_one_watched() -> None:
    org = OrgMemory()
    call = make_event(
        arn="arn:aws:sts::210987654321:assumed-role/vendor/sync",
        recipientAccountId="123456789012",
        at=BASE_TIME,
    )
    assert call.account == "123456789012"
    org.observe(call)
    later = ms(60)
    assert org.known_account("123456789012", later)
    assert org.known_account("210987654321", later)
    assert org.watched_ms("123456789012", later) > 0
    assert org.watched_ms("210987654321", later) == 0


def test_the_directory_users_steps_vouch_for_no_network_and_start_no_client_memory() -> None:
    org = OrgMemory()
    portal = portal_step(
        "erin", BASE_TIME, userAgent="python-requests/2.31", sourceIPAddress=OFFICE
    )
    assert portal.principal_key.startswith("arn:aws:identitystore:")
    org.observe(portal)
    assert not org._net_users and not org._client_users and not org._clients_since_ms
    assert org.known_for_ms(portal.principal_key, ms(1)) > 0  # its identity is still learned
