"""What a person read before, as the secret checks remember it: parameters read plain are known
to them only for judging a console session's reads, never to excuse a decrypting sweep, and a
session that reads the usual secrets first is still judged on what it reads next."""

from __future__ import annotations

from datetime import datetime, timedelta

from ingest.events import AuditEvent
from tests.factories import BASE_TIME
from tests.unit.detect.anomaly.test_console_sign_in import (
    HOME,
    OFFICE,
    _days,
    opened,
    parameter_reads,
    secret_reads,
    sign_in,
)

NAMES = [f"/prod/payments/param-{i}" for i in range(30)]
MORE = [f"/prod/orders/param-{i}" for i in range(10)]


def rules(events: list[AuditEvent]) -> list[str]:
    return [rule for _, rule in opened(events)]


def test_parameters_listed_plain_first_do_not_excuse_decrypting_them_all() -> None:
    """Stolen keys read thirty parameters plain (no secret handed over), then decrypt them all
    in a minute: a sweep, as it is without the plain reads -- also for a person who decrypted
    one parameter days before (review)."""
    days = _days("omar", [OFFICE] * 3)
    at = BASE_TIME + timedelta(days=3, hours=10)
    burst = parameter_reads("omar", at + timedelta(minutes=11), NAMES, decrypt=True)
    assert "baseline:credential_sweep" in rules([*days, *burst])
    prime = parameter_reads("omar", at, NAMES, decrypt=False, batch=10)
    assert "baseline:credential_sweep" in rules([*days, *prime, *burst])
    once = parameter_reads("omar", BASE_TIME + timedelta(hours=11), ["/dev/one"], decrypt=True)
    assert "baseline:credential_sweep" in rules([*days, *once, *prime, *burst])


def test_parameters_browsed_plain_do_not_crowd_the_secrets_out_of_memory() -> None:
    """A person's forty usual parameters, decrypted again on day two, are their work -- also
    after they browsed 240 other parameters plain (review: they filled the secrets' memory,
    and the usual reads paged)."""
    days = _days("lena", [OFFICE] * 2)
    usual = parameter_reads(
        "lena", BASE_TIME + timedelta(hours=12), NAMES + MORE, decrypt=True, step_s=60
    )
    browse = parameter_reads(
        "lena",
        BASE_TIME + timedelta(hours=13),
        [f"/cfg/p{i}" for i in range(240)],
        decrypt=False,
        batch=10,
        step_s=30,
    )
    again = parameter_reads(
        "lena", BASE_TIME + timedelta(days=2, hours=10), NAMES + MORE, decrypt=True
    )
    assert opened([*days, *usual, *again]) == []
    assert opened([*days, *usual, *browse, *again]) == []


def test_a_stolen_password_reading_the_usual_secrets_first_then_others_pages() -> None:
    """A password used from a network colleagues share: the thief opens five secrets its owner
    uses (the console shows which), then ten she never read. The first five are her work; the
    fifteen are not -- once Leash has remembered her reads for two days (review)."""
    first = _days("aiko", [OFFICE, OFFICE, OFFICE])
    first += secret_reads("aiko", BASE_TIME + timedelta(hours=10), OFFICE, 8)
    at = BASE_TIME + timedelta(days=3, hours=21)
    there = sign_in("aiko", at, BRANCH)
    usual = secret_reads("aiko", at, BRANCH, 5)
    assert opened([*first, *colleagues_at(at), there, *usual]) == []
    others = secret_reads("aiko", at + timedelta(minutes=2), BRANCH, 10, "prod/ci")
    found = opened([*first, *colleagues_at(at), there, *usual, *others], of=there)
    assert [rule for _, rule in found] == ["baseline:console_secrets"]


def test_a_young_persons_usual_secrets_then_new_ones_are_still_their_work() -> None:
    """Fresh seed 1119: on her second day a person reads her usual secrets from home, then
    more she never read -- after one remembered day most secrets are new to anyone who reads
    many (hers: 10 new of 18)."""
    first = _days("aiko", [OFFICE])
    first += secret_reads("aiko", BASE_TIME + timedelta(hours=10), OFFICE, 8)
    at = BASE_TIME + timedelta(days=1, hours=21)
    home = sign_in("aiko", at, HOME)
    usual = secret_reads("aiko", at, HOME, 5)
    more = secret_reads("aiko", at + timedelta(minutes=2), HOME, 13, "prod/ci")
    assert opened([*first, home, *usual, *more]) == []


BRANCH = "198.18.7.20"


def colleagues_at(at: datetime) -> list[AuditEvent]:
    """Four colleagues who signed in from BRANCH on each of the three days before `at`."""
    return [
        sign_in(f"colleague{i}", at - timedelta(days=d), BRANCH, mfa="Yes")
        for i in range(4)
        for d in range(1, 4)
    ]
