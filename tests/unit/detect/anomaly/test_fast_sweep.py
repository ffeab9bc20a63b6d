"""A swift sweep of secrets pages with no history, unless all it read is dev and staging config.

An AI agent or a person opening dozens of different secrets within two minutes pages with no
history of its own -- on the install's first two days, within 30 seconds (stolen keys take
secrets in seconds; people's scripts read their configuration over minutes). A coding agent
working in dev and staging reads those environments' parameters by the dozen on its first day
(seeds 797, 801 paged for it); such a sweep is judged by the agent's own days like any other
volume.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from detect.anomaly import secretreads
from detect.anomaly.habit import Seen
from detect.anomaly.secretreads import MAX_SECRETS, _non_prod, remembers
from detect.anomaly.tally import Tally
from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

AGENT = {"role": "coding-agent", "session": "agent-run-dc5c12b6", "userAgent": "Boto3/1.34.0"}


def read(name: str, n: int, step_s: float = 1.0) -> AuditEvent:
    return make_event(
        eventName="GetParameter",
        eventSource="ssm.amazonaws.com",
        requestParameters={"name": name, "withDecryption": True},
        at=BASE_TIME + timedelta(seconds=step_s * n),
        **AGENT,
    )


def opened(names: list[str], step_s: float = 1.0, *, watched_days: int = 0) -> list[str]:
    """Alerts opened by reading `names` `step_s` apart, Leash having watched the account
    for `watched_days` before (another principal's call then)."""
    events = [read(name, n, step_s) for n, name in enumerate(names)]
    assert events[0].actor_kind == "agent"
    if watched_days:
        before = BASE_TIME - timedelta(days=watched_days)
        events.insert(0, make_event(eventName="DescribeInstances", role="ops", at=before))
    changes = DetectionEngine(rules=load_rules()).process(events).changes
    return [alert.rule for change, alert in changes if change == "alert.opened"]


APPS = ("ledger", "scheduler", "billing", "search")
KEYS = ("db_password", "api_token", "signing_key", "sentry_dsn", "redis_endpoint")


def test_an_agent_opening_twenty_secrets_in_seconds_on_install_day_pages() -> None:
    names = [f"/{env}/{app}/{key}" for env in ("prod", "staging") for app in APPS for key in KEYS]
    assert opened(names[:: len(names) // 20 or 1][:20]) == ["baseline:credential_sweep"]
    unnamed = [f"{app}-{key}" for app in APPS for key in KEYS]
    assert opened(unnamed[:20]) == ["baseline:credential_sweep"]


def test_on_install_day_a_sweep_over_a_minute_and_a_half_waits_for_history() -> None:
    """Seeds 938, 951: on Leash's first day people's scripts read the configuration they need,
    16 in a minute and a half, and paged; nobody's scripts are known yet. Once Leash has
    watched the account for two days, the same pace by a principal without history pages."""
    unnamed = [f"{app}-{key}" for app in APPS for key in KEYS][:20]
    assert opened(unnamed, step_s=5) == []
    assert opened(unnamed, step_s=5, watched_days=3) == ["baseline:credential_sweep"]


def test_dev_and_staging_configuration_alone_waits_for_the_agents_own_days() -> None:
    names = [f"/{env}/{app}/{key}" for env in ("dev", "staging") for app in APPS for key in KEYS]
    assert opened(names[:20]) == []


def decrypt(key: str, n: int) -> AuditEvent:
    return make_event(
        eventName="Decrypt",
        eventSource="kms.amazonaws.com",
        requestParameters={"keyId": key, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
        at=BASE_TIME + timedelta(seconds=n + 0.5),
        **AGENT,
    )


def test_the_keys_that_open_dev_and_staging_configuration_do_not_make_it_production() -> None:
    """Fresh seeds 1588, 1593: people on an install's first days read their dev and staging
    secrets and parameters, and decrypted under four KMS keys in the same seconds; a key's id
    names no environment, yet it made the sweep one that "reached anything else" and paged.
    The keys count toward the sweep but say nothing of where it reaches: it waits like the
    configuration alone. Twenty keys alone are still a sweep that pages."""
    names = [f"/staging/{app}/{key}" for app in APPS for key in KEYS]  # (dev ones: twin-held)
    keys = [
        f"arn:aws:kms:eu-west-2:123456789012:key/{n:08x}-15d6-4326-95c0-0cf312c882de"
        for n in range(20)
    ]
    events = [read(name, n) for n, name in enumerate(names[:16])]
    events += [decrypt(key, n) for n, key in enumerate(keys[:4])]
    assert run(sorted(events, key=lambda e: e.event_time_ms)) == []
    assert run([decrypt(key, n) for n, key in enumerate(keys)]) == ["baseline:credential_sweep"]
    # ... and with one staging parameter beside them (review)
    keys_sweep = [read(names[0], 0), *(decrypt(key, n + 1) for n, key in enumerate(keys))]
    assert run(keys_sweep) == ["baseline:credential_sweep"]
    # ... and a production parameter among them still reaches production
    events.append(read("/prod/ledger/db_password", 17))
    assert run(sorted(events, key=lambda e: e.event_time_ms)) == ["baseline:credential_sweep"]


class _Counting:
    """A regex that counts the strings it is asked to search."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern, self.searched = pattern, 0

    def search(self, text: str) -> re.Match[str] | None:
        self.searched += 1
        return self.pattern.search(text)


def test_where_a_sweep_reaches_is_judged_by_its_distinct_names_however_often_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """_non_prod over the window's distinct keys: a window holding the same few names
    thousands of times (a busy principal re-reading its configuration) answers as one holding
    each once -- and looks at each name once (it scanned every item on every read: the
    detector fell 6-8x behind on the ingest bench's replayed records)."""
    key = "arn:aws:kms:eu-west-2:123456789012:key/0000000{}-15d6-4326-95c0-0cf312c882de"
    counting = _Counting(secretreads._KMS_KEY)
    monkeypatch.setattr(secretreads, "_KMS_KEY", counting)

    def non_prod(*names: str, repeats: int = 1) -> bool:
        tally = Tally(window_ms=600_000)
        for n in range(repeats):
            for i, name in enumerate(names):
                tally.add(1_000 + n, f"e{n}-{i}", name)
        counting.searched = 0
        answer = _non_prod(tally)
        assert counting.searched <= len(set(names))
        return answer

    staging = ("/staging/ledger/db_password", "staging/atlas/api-key")
    for repeats in (1, 500):
        assert non_prod(*staging, repeats=repeats)
        assert non_prod(*staging, key.format(1), key.format(2), repeats=repeats)
        assert not non_prod(staging[0], key.format(1), key.format(2), repeats=repeats)
        assert not non_prod(key.format(1), repeats=repeats)  # (keys alone name nothing)
        assert not non_prod(*staging, "/prod/ledger/db_password", repeats=repeats)


def workdays() -> list[AuditEvent]:
    """Four days of the agent reading three of its dev parameters every ten minutes."""
    names = [f"/dev/{app}/{key}" for app in APPS for key in KEYS]
    return [
        make_event(
            eventName="GetParameter",
            eventSource="ssm.amazonaws.com",
            requestParameters={"name": names[(3 * slot + i) % len(names)], "withDecryption": True},
            at=BASE_TIME + timedelta(days=day, minutes=10 * slot, seconds=20 * i),
            **AGENT,
        )
        for day in range(4)
        for slot in range(30)
        for i in range(3)
    ]


def sixteen(env: str) -> list[AuditEvent]:
    """Sixteen different parameters over eight minutes on day five (slower than a swift sweep)."""
    names = [f"/{env}/{app}/{key}" for app in APPS for key in KEYS][:16]
    return [
        make_event(
            eventName="GetParameter",
            eventSource="ssm.amazonaws.com",
            requestParameters={"name": name, "withDecryption": True},
            at=BASE_TIME + timedelta(days=4, hours=6, seconds=30 * n),
            **AGENT,
        )
        for n, name in enumerate(names)
    ]


def run(events: list[AuditEvent]) -> list[str]:
    changes = DetectionEngine(rules=load_rules()).process(events).changes
    return [alert.rule for change, alert in changes if change == "alert.opened"]


def test_past_its_own_days_only_in_dev_and_staging_waits_in_production_pages() -> None:
    """Seed 874: a coding agent that reads three of its dev parameters in ten minutes read
    sixteen dev and staging ones, and paged twice with nothing else to it."""
    assert run([*workdays(), *sixteen("staging")]) == []
    assert run([*workdays(), *sixteen("prod")]) == ["baseline:credential_sweep"]


PERSON = {
    "role": "AWSReservedSSO_DeveloperAccess_9bc7ff30e2ed9c9b",
    "session": "lars@example.com",
    "userAgent": "aws-cli/2.15.30 Python/3.11.8 Linux/6.5",
}
SECRETS = [f"/{env}/{app}/{key}" for env in ("prod", "staging") for app in APPS for key in KEYS]


def person_reads(names: list[str], at: datetime, ip: str = "198.51.100.7") -> list[AuditEvent]:
    return [
        make_event(
            eventName="GetParameter",
            eventSource="ssm.amazonaws.com",
            requestParameters={"name": name, "withDecryption": True},
            sourceIPAddress=ip,
            at=at + timedelta(seconds=30 * n),
            **PERSON,
        )
        for n, name in enumerate(names)
    ]


def test_a_person_re_reading_their_own_secrets_faster_is_no_sweep_new_ones_page() -> None:
    """Seeds 893, 897: a person who reads four or five secrets in ten minutes read sixteen of
    the ones they read every day, from a network new to them, and paged. A thief with their
    key does not know which secrets they read: sixteen they never opened still pages."""
    usual = SECRETS[:24]
    days = [
        event
        for day in range(4)
        for slot in range(6)
        for event in person_reads(
            usual[4 * slot : 4 * slot + 4], BASE_TIME + timedelta(days=day, hours=slot)
        )
    ]
    assert days[0].actor_kind == "human"
    at = BASE_TIME + timedelta(days=4, hours=3)
    familiar = person_reads(usual[2:18], at, ip="203.0.113.99")
    assert run([*days, *familiar]) == []
    strangers = [f"/prod/{app}/{key}-{n}" for app in APPS for key in KEYS for n in (1,)][:16]
    assert run([*days, *person_reads(strangers, at, ip="203.0.113.99")]) == [
        "baseline:credential_sweep"
    ]


def test_what_was_read_before_counts_only_once_the_memory_is_a_day_old() -> None:
    """Which secrets a principal read is kept in memory only: after a restart every usual one
    would look unfamiliar, so the judgement waits until the memory spans a day, and stops once it
    is full."""
    day = 86_400_000
    seen = Seen(secrets={"a": 0}, secrets_since=0)
    assert remembers(seen, day) and not remembers(seen, day - 1)
    assert not remembers(Seen(), day)
    full = Seen(secrets={str(i): 0 for i in range(MAX_SECRETS)}, secrets_since=0)
    assert not remembers(full, 2 * day)
