"""A workload session refused credential reads in its first minutes pages with no history.

The shape of stolen or freshly assumed credentials being tried out (Stratus'
ec2-get-password-data and ec2-download-user-data: dozens of denied calls seconds after
AssumeRole). People explore and get denied as part of their work, and agents hit their
permission boundary on all sorts of calls: neither pages for it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from detect.anomaly.refusals import Refusals
from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from detect.rules.record import record_of
from ingest.events import AuditEvent, Normalizer
from tests.factories import BASE_TIME, make_event, make_record, mature_state

ROLE = {"role": "reporting-task", "session": "aws-go-sdk-1722375070115152000"}
PERSON = {"role": "AWSReservedSSO_Developer_4f2a9c1e", "session": "erin@example.com"}


def denied(
    n: int, seconds_apart: float, action: str = "GetPasswordData", **who: str
) -> list[AuditEvent]:
    return [
        make_event(
            eventName=action,
            eventSource="ec2.amazonaws.com",
            errorCode="Client.UnauthorizedOperation",
            requestParameters={"instanceId": "i-0a1b2c3d4e5f"},
            at=BASE_TIME + timedelta(seconds=i * seconds_apart),
            **who,
        )
        for i in range(n)
    ]


def opened(events: list[AuditEvent]) -> list[str]:
    engine = DetectionEngine(rules=load_rules())
    changes = engine.process(events).changes
    return [alert.rule for change, alert in changes if change == "alert.opened"]


def test_ten_refusals_in_a_new_sessions_first_minutes_page() -> None:
    assert opened(denied(12, 10, **ROLE)) == ["baseline:denied_session_start"]


def test_refusals_spread_past_the_first_minutes_do_not() -> None:
    assert opened(denied(12, 60, **ROLE)) == []


def test_a_person_getting_refusals_does_not_page_for_it() -> None:
    assert opened(denied(12, 10, **PERSON)) == []


def test_an_agent_refused_ordinary_calls_does_not() -> None:
    assert opened(denied(12, 10, action="DescribeSecurityGroups", **ROLE)) == []


DEPLOY = {"role": "gha-pricing-deploy", "userAgent": "aws-sdk-js/3.540.0"}
LISTINGS = (
    "ListAccounts",
    "GetAccountSummary",
    "DescribeSnapshots",
    "ListGroups",
    "ListSecrets",
    "DescribeParameters",
    "ListBuckets",
    "GetBucketPolicy",
    "ListUsers",
)


def deploy_run(
    day: int, run: int, *, refused: tuple[str, ...] = (), ok: int = 30, ip: str = "203.0.113.10"
) -> list[AuditEvent]:
    """One GitHub Actions job of the deploy role: its own session, `ok` calls that work, and
    the `refused` calls (one each) spread through its first minute."""
    start = BASE_TIME + timedelta(days=day, hours=run)
    who = DEPLOY | {"session": f"github-{day}{run:02d}", "sourceIPAddress": ip}
    calls = [
        make_event(eventName="DescribeStacks", at=start + timedelta(seconds=2 * i), **who)
        for i in range(ok)
    ]
    calls += [
        make_event(
            eventName=action,
            errorCode="AccessDenied",
            at=start + timedelta(seconds=1 + 2 * i),
            **who,
        )
        for i, action in enumerate(refused)
    ]
    return calls


def deploy_days(days: int = 4) -> list[AuditEvent]:
    """Its jobs: each plan probes what it may list and is refused nine calls among its forty."""
    return [
        e
        for day in range(days)
        for run in range(3)
        for e in deploy_run(day, run, refused=LISTINGS, ok=40)
    ]


def test_a_workload_session_refused_nearly_everything_it_lists_pages() -> None:
    """A deploy role whose plans are refused nine listing calls among their work, now a
    session refused the same nine of its first eleven calls (its credentials in someone else's
    hands): its own refusals in ten minutes are no more than usual, the share is not."""
    stolen = deploy_run(4, 5, refused=LISTINGS, ok=2)
    events = sorted([*deploy_days(), *stolen], key=lambda e: e.event_time_ms)
    assert opened(events) == ["baseline:refused_session_start"]


def test_refusals_among_a_deploys_own_work_or_on_a_new_roles_first_day_do_not() -> None:
    probing = deploy_run(4, 5, refused=LISTINGS, ok=40)  # a plan probing among its work
    events = sorted([*deploy_days(), *probing], key=lambda e: e.event_time_ms)
    assert opened(events) == []
    assert opened(deploy_run(0, 0, refused=LISTINGS, ok=2)) == []  # a pipeline not yet allowed


OPS_AGENT = {"role": "scheduler-ops-agent", "userAgent": "Boto3/1.34.74 md/Botocore#1.34.74"}


def agent_run(
    day: int,
    run: int,
    *,
    refused: tuple[str, ...] = (),
    ok: int = 30,
    ip: str = "34.204.242.161",
    refused_after_s: float = 0.0,
    refused_every_s: float = 1.0,
) -> list[AuditEvent]:
    """One run of an AI ops agent: its own session, `ok` calls that work (every 2 s from 20 s
    in), the `refused` ones (one each, `refused_every_s` apart) from `refused_after_s` in."""
    start = BASE_TIME + timedelta(days=day, hours=run)
    who = OPS_AGENT | {"session": f"agent-run-{day}{run:02d}", "sourceIPAddress": ip}
    calls = [
        make_event(
            eventName=action,
            errorCode="AccessDenied",
            at=start + timedelta(seconds=refused_after_s + i * refused_every_s),
            **who,
        )
        for i, action in enumerate(refused)
    ]
    calls += [
        make_event(eventName="DescribeAlarms", at=start + timedelta(seconds=20 + 2 * i), **who)
        for i in range(ok)
    ]
    return calls


def test_an_agent_session_refused_nearly_everything_as_it_starts_pages_unless_it_is_its_habit() -> (
    None
):
    """An ops agent refused a call or two a run, now a session refused nine different listings
    before anything else (seed 994: its credentials in other hands). An agent that explores
    at its permission boundary every run is refused as much by habit: that waits."""
    stolen = agent_run(4, 5, refused=LISTINGS, ok=2, ip="185.57.102.117")
    usual = [e for d in range(4) for r in range(3) for e in agent_run(d, r, refused=LISTINGS[:2])]
    assert opened(sorted([*usual, *stolen], key=lambda e: e.event_time_ms)) == [
        "baseline:refused_session_start"
    ]
    explorer = [e for d in range(4) for r in range(3) for e in agent_run(d, r, refused=LISTINGS)]
    assert opened(sorted([*explorer, *stolen], key=lambda e: e.event_time_ms)) == []


def test_after_a_restart_an_agents_refused_start_waits_for_a_second_sign() -> None:
    """A restarted detector has the agent's trained days (it is mature) but not its refusals'
    habit, which only streaming learns: the refused start is held, not paged, until this
    process has watched one of the agent's days to its end."""
    stolen = agent_run(4, 5, refused=LISTINGS, ok=2, ip="185.57.102.117")
    state = mature_state(stolen[0])
    refusals = Refusals()
    found = [
        f
        for e in stolen
        if (f := refusals.session_start(state, e, record_of(e), denied=bool(e.error_code)))
        is not None
    ]
    assert [(f.rule, f.tier) for f in found] == [("baseline:refused_session_start", "hold")]
    # ... and sixteen refused in a minute from a new network is not the young agent's page
    # (review: nothing held `state.mature` in _young_refused_start)
    refusals = Refusals()
    found = [
        f
        for e in agent_run(4, 5, refused=SWEEP, ok=2, ip="185.57.102.117")
        if (
            f := refusals.session_start(
                state, e, record_of(e), denied=bool(e.error_code), new_net=True
            )
        )
        is not None
    ]
    assert [(f.rule, f.tier, "catastrophic" in f.explanation) for f in found] == [
        ("baseline:refused_session_start", "hold", False)
    ]


def test_an_agent_refused_many_calls_among_its_work_is_no_habit_of_refused_starts() -> None:
    """Seed 1002: a coding agent refused 9-16 different calls in its sessions' first minutes,
    among hundreds that worked; a session refused nine listings and nothing else is not that."""
    busy = [
        e
        for d in range(4)
        for r in range(3)
        for e in agent_run(d, r, refused=LISTINGS, ok=140, refused_after_s=120)
    ]
    stolen = agent_run(4, 5, refused=LISTINGS, ok=2, ip="139.239.97.26")
    assert opened(sorted([*busy, *stolen], key=lambda e: e.event_time_ms)) == [
        "baseline:refused_session_start"
    ]


LAMBDA = {"role": "recs-handler-role", "session": "recs-handler", "userAgent": "Boto3/1.32.26"}


def keyed_calls(
    who: dict[str, str],
    start: datetime,
    key: str,
    calls: list[tuple[str, str]],
    ip: str,
    step_s: float,
) -> list[AuditEvent]:
    """`calls` ((action, error code or "")) of `who` under the temporary key `key`, `step_s`
    apart from `start`."""
    normalizer = Normalizer()
    events = []
    for i, (action, error) in enumerate(calls):
        record = make_record(
            eventName=action,
            errorCode=error or None,
            sourceIPAddress=ip,
            at=start + timedelta(seconds=step_s * i),
            **who,
        )
        record["userIdentity"]["accessKeyId"] = key
        events.append(normalizer.normalize(record))
    return events


def invocation(hour: int, key: str, calls: list[tuple[str, str]], ip: str) -> list[AuditEvent]:
    """A Lambda function's calls under the credentials `key` AWS issued it for this cold start
    (Lambda names every session after the function: the session ARN never changes)."""
    return keyed_calls(LAMBDA, BASE_TIME + timedelta(hours=hour), key, calls, ip, 1.0)


def test_a_functions_new_credentials_refused_nearly_everything_page() -> None:
    """Fresh seed 1022: a Lambda role's credentials, taken and used from outside, were refused
    eight different listings in their first seconds, then read buckets' exports. Every
    invocation shares the function's session ARN, so its first minutes are the credentials'."""
    work = [("PutObject", ""), ("GetQueueAttributes", ""), ("GetSecretValue", "")]
    days = [
        e
        for hour in range(0, 96, 2)
        for e in invocation(hour, f"ASIAWORK{hour:012d}", work, f"3.81.95.{hour % 250}")
    ]
    assert days[0].actor_kind == "service"
    probe = [(action, "AccessDenied") for action in LISTINGS] + [("GetObject", "")]
    stolen = invocation(97, "ASIAZDANQFOCHLRGGCHJ", probe, "175.235.107.115")
    assert opened([*days, *stolen]) == ["baseline:refused_session_start"]


def test_a_functions_cold_starts_refused_by_habit_or_a_broken_permission_do_not() -> None:
    """Each cold start brings new credentials, so a workload's refusals repeat session after
    session: a scanner refused eight listings in the regions a policy denies, on every cold
    start since its first day, does it by habit; a function whose secret permission a deploy
    removed retries the read ten times a cold start -- its own calls, not new credentials
    tried on secrets (that check keeps to the session's first minutes)."""
    scanner = [(action, "AccessDenied") for action in LISTINGS] + [("GetObject", "")]
    habit = [
        e
        for hour in range(0, 96, 2)
        for e in invocation(hour, f"ASIASCAN{hour:012d}", scanner, f"3.81.95.{hour % 250}")
    ]
    assert opened(habit) == []
    work = [("PutObject", ""), ("GetQueueAttributes", ""), ("GetSecretValue", "")]
    days = [
        e
        for hour in range(0, 96, 2)
        for e in invocation(hour, f"ASIAWORK{hour:012d}", work, f"3.81.95.{hour % 250}")
    ]
    broken = [("GetSecretValue", "AccessDeniedException")] * 10
    retries = [
        e
        for hour in range(96, 100)
        for e in invocation(hour, f"ASIABRKN{hour:012d}", broken, f"3.81.95.{hour}")
    ]
    assert opened([*days, *retries]) == []


PROBE = (
    *LISTINGS,
    "ListRoles",
    "ListPolicies",
    "GetAccountAuthorizationDetails",
    "ListFunctions20150331",
    "DescribeDBInstances",
    "ListKeys",
    "DescribeSecurityGroups",
    "ListAccessKeys",
)


def test_a_refused_start_that_paged_makes_the_next_days_probe_the_intruder_back() -> None:
    """Fresh seed 1150: a deploy role's stolen session was refused seventeen different calls
    as it started and paged; the next day another session from another network ran the same
    probe, and waited as the role's habit (a day that paged teaches its volume). A session
    refused from its first minutes says someone else holds the credentials: while its alert
    is open, the same probe back is the intruder back. Resolved, it is the role's habit.
    (The price: a workload whose own start really is refused like that pages on its second day
    too, then its days teach it -- one page more than before, not one a day.)"""
    first = deploy_run(4, 5, refused=PROBE, ok=2, ip="209.226.193.87")
    again = deploy_run(5, 7, refused=PROBE, ok=2, ip="45.66.35.21")
    events = sorted([*deploy_days(), *first, *again], key=lambda e: e.event_time_ms)
    engine = DetectionEngine(rules=load_rules())
    changes = engine.process([e for e in events if e.event_time_ms < again[0].event_time_ms])
    opened_first = [a for kind, a in changes.changes if kind == "alert.opened"]
    assert [a.rule for a in opened_first] == ["baseline:refused_session_start"]
    later = engine.process([e for e in events if e.event_time_ms >= again[0].event_time_ms])
    assert [a.rule for kind, a in later.changes if kind == "alert.opened"] == [
        "baseline:denied_burst"
    ]

    engine = DetectionEngine(rules=load_rules())
    before = engine.process([e for e in events if e.event_time_ms < again[0].event_time_ms])
    engine.set_status(
        next(a.id for kind, a in before.changes if kind == "alert.opened"), "resolved"
    )
    later = engine.process([e for e in events if e.event_time_ms >= again[0].event_time_ms])
    assert [a.rule for kind, a in later.changes if kind == "alert.opened"] == []


CI_AGENT = {"role": "gha-pricing-ci-agent", "session": "GitHubActions", "userAgent": "Boto3/1.32.2"}


def keyed_run(
    day: int,
    run: int,
    key: str,
    *,
    refused: tuple[str, ...],
    ok: int,
    ip: str,
    after_s: float = 0.0,
) -> list[AuditEvent]:
    """One GitHub Actions job of an agent role assumed as `GitHubActions` every time: the same
    session ARN for every job, its own temporary key (`key`); its calls from `after_s` in."""
    start = BASE_TIME + timedelta(days=day, hours=run, seconds=after_s)
    calls = [(action, "AccessDenied") for action in refused] + [("DescribeStacks", "")] * ok
    return keyed_calls(CI_AGENT, start, key, calls, ip, 2.0)


def test_an_agent_role_with_one_session_name_has_its_runs_told_apart_by_their_keys() -> None:
    """Fresh seed 1208: a CI agent's role is assumed as `GitHubActions` on every job, so its
    session ARN never changes; its stolen job credentials were refused twenty of their first
    twenty-three calls and nothing paged -- the "session" had started days before."""
    usual = [
        e
        for d in range(4)
        for r in range(3)
        for e in keyed_run(d, r, f"ASIAJOB{d}{r:013d}", refused=LISTINGS[:1], ok=30, ip="3.81.95.7")
    ]
    assert usual[0].actor_kind == "agent"
    stolen = keyed_run(4, 5, "ASIAIWZRA6OWAIYLJZHI", refused=LISTINGS, ok=2, ip="54.200.115.148")
    assert opened([*usual, *stolen]) == ["baseline:refused_session_start"]


def test_an_agents_credentials_refreshed_mid_run_are_no_new_start() -> None:
    """Review: an agent's SDK refreshes its run's credentials (a new key, the same session ARN,
    host and minute); refused nine listings right after, it is its run exploring at its
    permission boundary, not someone else's session starting -- which, from another network,
    the test above pages."""

    def run(day: int, *, explore: bool) -> list[AuditEvent]:
        old = keyed_run(day, 0, f"ASIAOLD{day:013d}", refused=LISTINGS[:1], ok=30, ip="3.81.95.7")
        refreshed = keyed_run(
            day,
            0,
            f"ASIANEW{day:013d}",
            refused=LISTINGS if explore else (),
            ok=40,
            ip="3.81.95.7",
            after_s=2 * len(old) + 5,  # its first call 5 s after the old key's last
        )
        return [*old, *refreshed]

    usual = [e for d in range(4) for e in run(d, explore=False)]
    assert opened([*usual, *run(4, explore=True)]) == []


SWEEP = (
    *LISTINGS,
    "ListRoles",
    "ListPolicies",
    "ListKeys",
    "DescribeInstances",
    "DescribeDBInstances",
    "ListFunctions20150331",
    "GetCallerIdentity",
)


def test_a_young_agents_session_refused_sixteen_calls_in_a_minute_pages() -> None:
    """Fresh seed 1557: an AI agent first seen that morning, on an install's first working day;
    a session from a network it never used was refused 16 different calls in 24 s, all it
    tried. Without days of its own a refused start waits (a new agent missing a permission) --
    but not at a script's pace."""
    first_day = [e for r in range(3) for e in agent_run(0, r)]
    sweep = agent_run(0, 5, refused=SWEEP, ok=2, ip="36.231.249.38")
    assert opened(sorted([*first_day, *sweep], key=lambda e: e.event_time_ms)) == [
        "baseline:refused_session_start"
    ]


def test_a_young_agent_refused_as_much_over_minutes_or_by_habit_waits() -> None:
    """The same sixteen refusals spread over four minutes (a model waiting for each answer), or
    among calls that work (a busy agent at its permission boundary); and an agent whose sessions
    started refused on its first day too."""
    first_day = [e for r in range(3) for e in agent_run(0, r)]
    slow = agent_run(0, 5, refused=SWEEP, ok=0, ip="36.231.249.38", refused_every_s=15)
    busy = agent_run(0, 5, refused=SWEEP, ok=30, ip="36.231.249.38", refused_after_s=20)
    for run in (slow, busy):
        assert opened(sorted([*first_day, *run], key=lambda e: e.event_time_ms)) == []
    explorer = [e for r in range(3) for e in agent_run(0, r, refused=LISTINGS, ok=2)]
    sweep = agent_run(1, 5, refused=SWEEP, ok=2, ip="36.231.249.38")
    assert opened(sorted([*explorer, *sweep], key=lambda e: e.event_time_ms)) == []


def test_a_young_agent_refused_as_fast_from_where_it_runs_waits() -> None:
    """Review: a new agent whose role lacks a permission, making its tool calls in parallel, is
    refused as fast -- from the network it runs in, and on its first session from anywhere."""
    first_day = [e for r in range(3) for e in agent_run(0, r)]
    own = agent_run(0, 5, refused=SWEEP, ok=2)  # (agent_run's usual network)
    assert opened(sorted([*first_day, *own], key=lambda e: e.event_time_ms)) == []
    assert opened(agent_run(0, 0, refused=SWEEP, ok=2, ip="36.231.249.38")) == []


def test_the_session_that_paged_teaches_no_habit() -> None:
    """Review: its eighth refusal remembered the young agent's refused start as its habit, so
    the same probe the next day from another network was "its habit"."""
    engine = DetectionEngine(rules=load_rules())
    first_day = [e for r in range(3) for e in agent_run(0, r)]
    probe = agent_run(0, 5, refused=SWEEP, ok=2, ip="36.231.249.38")
    engine.process(sorted([*first_day, *probe], key=lambda e: e.event_time_ms))
    back = [
        *(e for r in range(3) for e in agent_run(1, r)),
        *agent_run(1, 5, refused=SWEEP, ok=2, ip="45.66.35.21"),
    ]
    changes = engine.process(sorted(back, key=lambda e: e.event_time_ms)).changes
    assert "baseline:refused_session_start" in {rule for _, a in changes for rule in a.rules}
