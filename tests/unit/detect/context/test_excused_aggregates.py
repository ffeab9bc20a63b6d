"""An aggregate made of calls their own context explained is that context again, not a sign.

Fresh seed 1179: an administrator deleted three VPCs and their flow logs (each flow-log delete
held: the logs of a network the caller had just deleted), then onboarded a new hire (the login
profile and keys held: a user a person had just created). The window's count of first-seen
sensitive calls -- three excused flow-log deletes and the `CreateUser` -- crossed its bar on
`CreateUser`, and that count corroborated the excused login profile: a page for three chores.
The same count made of calls nothing explained still corroborates.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from detect.anomaly.forest import DetectionModel, IsolationForestDetector
from detect.context.triage import EXCUSED_CALLS
from detect.engine import DetectionEngine
from detect.features import FEATURE_NAMES, PrincipalState, without
from detect.rules.catalogue import load_rules
from detect.rules.redflags.identity import privileged_group
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

ADMIN = {
    "role": "AWSReservedSSO_AdministratorAccess_735e58a3c2d398b9",
    "session": "olu.kim@example.com",
    "sourceIPAddress": "122.139.173.181",
    "userAgent": "aws-cli/2.16.0 md/awscrt#0.20.1 ua/2.0 os/linux#6.5",
}
DAY = timedelta(days=1)
TEST_DAY = 4 * DAY + timedelta(hours=5)
NEW_SENSITIVE = "baseline:new_sensitive_actions"


def call(action: str, source: str, params: dict[str, object], at: timedelta) -> AuditEvent:
    return make_event(
        eventName=action,
        eventSource=f"{source}.amazonaws.com",
        readOnly=action.startswith(("Describe", "List", "Get")),
        requestParameters=params,
        at=BASE_TIME + at,
        **ADMIN,
    )


def history() -> list[AuditEvent]:
    """Four days of an administrator's reading: mature, established, nothing sensitive yet."""
    return [
        call(action, "iam" if action == "ListUsers" else "ec2", {}, d * DAY + timedelta(minutes=m))
        for d in range(4)
        for m in range(60)
        for action in ("ListUsers", "DescribeVpcs")
    ]


def vpc_clean_up(start: timedelta) -> list[AuditEvent]:
    """Three networks deleted, each followed by its flow logs (the held twin)."""
    out = []
    for n in range(3):
        at = start + timedelta(seconds=40 * n)
        out.append(call("DeleteVpc", "ec2", {"vpcId": f"vpc-0a1b2c{n}"}, at))
        flow_logs = {"DeleteFlowLogsRequest": {"FlowLogId": {"tag": 1, "content": f"fl-0a{n}"}}}
        out.append(call("DeleteFlowLogs", "ec2", flow_logs, at + timedelta(seconds=10)))
    return out


def unexplained_grants(start: timedelta) -> list[AuditEvent]:
    """Three first permission changes nothing explains (each held: a person's first use)."""
    return [
        call(
            action,
            "iam",
            {"roleName": "reports-task", "policyName": "inline-read", "policyDocument": "{}"},
            start + timedelta(seconds=30 * n),
        )
        for n, action in enumerate(
            ("PutRolePolicy", "DeleteRolePolicy", "PutRolePermissionsBoundary")
        )
    ]


def onboarding(start: timedelta) -> list[AuditEvent]:
    user = {"userName": "lucia.ito"}
    steps = [
        ("CreateUser", user),
        ("AddUserToGroup", {**user, "groupName": "developers"}),
        ("CreateLoginProfile", user),
        ("CreateAccessKey", user),
    ]
    return [
        call(action, "iam", params, start + timedelta(seconds=25 * i))
        for i, (action, params) in enumerate(steps)
    ]


def run(events: list[AuditEvent]) -> list[str]:
    """The rules of the alerts the test day opened."""
    engine = DetectionEngine(rules=load_rules())
    engine.process(history())
    changes = engine.process(events).changes
    return [alert.rule for kind, alert in changes if kind == "alert.opened"]


def new_sensitive_on_create_user(events: list[AuditEvent]) -> list[object]:
    """The twin of every new-sensitive-actions finding raised on the CreateUser call."""
    engine = DetectionEngine(rules=load_rules())
    engine.process(history())
    found: list[object] = []
    apply = engine.pager.apply

    def spy(finding, action_class, action="", **how):  # type: ignore[no-untyped-def]
        if finding.rule == NEW_SENSITIVE and action == "CreateUser":
            found.append(finding.twin)
        return apply(finding, action_class, action, **how)

    engine.pager.apply = spy  # type: ignore[method-assign]
    engine.process(events)
    return found


def test_chores_excused_one_by_one_do_not_add_up_to_a_page() -> None:
    events = vpc_clean_up(TEST_DAY) + onboarding(TEST_DAY + timedelta(minutes=3))
    assert new_sensitive_on_create_user(events) == [EXCUSED_CALLS]
    opened = run(events)
    assert opened == [], opened


def test_the_same_count_of_calls_nothing_explained_still_corroborates() -> None:
    events = unexplained_grants(TEST_DAY) + onboarding(TEST_DAY + timedelta(minutes=3))
    assert new_sensitive_on_create_user(events) == [""]
    opened = run(events)
    assert opened, "three unexplained first grants and a new user's login: two signs"


def test_a_window_without_its_excused_calls() -> None:
    state = PrincipalState("p", "human")
    for event in history():
        state.observe(event)
    row = state.features()
    assert state.excused_counts() is None  # nothing excused: nothing to judge again
    cleanup = vpc_clean_up(TEST_DAY)
    for event in cleanup:
        state.observe(event)
    flow_logs = [e for e in cleanup if e.action == "DeleteFlowLogs"]
    for event in flow_logs[:2]:
        state.excuse(event, new_action=event is flow_logs[0], new_sensitive=event is flow_logs[0])
    row = state.features()
    counts = state.excused_counts()
    assert counts is not None
    rest = without(row, counts)
    named = dict(zip(FEATURE_NAMES, row, strict=True))
    rest_named = dict(zip(FEATURE_NAMES, rest, strict=True))
    assert rest_named["evasion_10m"] == named["evasion_10m"] - 2 == 1
    assert rest_named["new_sensitive_10m"] == named["new_sensitive_10m"] - 1
    assert rest_named["new_actions_10m"] == named["new_actions_10m"] - 1
    assert {k for k in named if named[k] != rest_named[k]} == {
        "evasion_10m",
        "new_sensitive_10m",
        "new_actions_10m",
    }  # volume, deletes and the rest stay as they were
    later = call("ListUsers", "iam", {}, TEST_DAY + timedelta(minutes=11))
    state.observe(later)
    assert state.excused_counts() is None  # out of the window: forgotten


def test_the_forest_judges_a_window_again_without_its_excused_calls() -> None:
    """A window the forest flags only for the excused calls in it is explained; one it flags
    for something else as well (a burst the excused calls did not make) is not."""
    rng = np.random.default_rng(7)
    at = {name: FEATURE_NAMES.index(name) for name in FEATURE_NAMES}
    normal = np.zeros((2000, len(FEATURE_NAMES)))  # a person's ordinary windows
    normal[:, at["events_10m"]] = rng.integers(20, 60, size=2000)
    normal[:, at["events_1m"]] = rng.integers(1, 8, size=2000)
    normal[:, at["data_reads_10m"]] = rng.integers(0, 20, size=2000)
    normal[:, at["evasion_10m"]] = normal[:, at["new_sensitive_10m"]] = rng.random(2000) < 0.02
    detector = IsolationForestDetector(n_estimators=50, random_state=0).fit(normal)
    detector.threshold_ = 0.5  # (a forest of four varying features scores in a narrow range)
    model = DetectionModel("t", 0, FEATURE_NAMES, {"human": detector}, {}, {})
    engine = DetectionEngine(rules=[], model=model)
    chores = [0.0] * len(FEATURE_NAMES)
    chores[at["events_10m"]], chores[at["events_1m"]], chores[at["data_reads_10m"]] = 40, 4, 5
    chores[at["evasion_10m"]] = chores[at["new_sensitive_10m"]] = 3  # excused flow-log deletes
    burst = list(chores)  # ... in a window of 900 calls, 500 of them reads
    burst[at["events_10m"]], burst[at["events_1m"]], burst[at["data_reads_10m"]] = 900, 200, 500
    state = PrincipalState("p", "human")
    event = call("DeleteFlowLogs", "ec2", {}, TEST_DAY)

    flow_logs = (0, 3, 3, 0)  # excused: privilege, evasion, first-seen sensitive, new actions
    rows = [
        (0, state, chores, event, flow_logs),
        (1, state, chores, event, None),  # nothing excused in the window
        (2, state, burst, event, flow_logs),
    ]
    found = {i: excused_only for i, f, _, excused_only in engine._score("human", rows)}
    assert found == {0: True, 1: False, 2: False}


def test_an_install_days_chores_do_not_add_up_through_a_note_either() -> None:
    """On Leash's first day an established admin's window counts are notes (immature: one
    active day), and a note corroborates a hold just as well (review)."""
    first_day = [
        call(action, "iam" if action == "ListUsers" else "ec2", {}, timedelta(minutes=m))
        for m in range(120)
        for action in ("ListUsers", "DescribeVpcs")
    ]
    start = timedelta(hours=5)
    chores = vpc_clean_up(start) + onboarding(start + timedelta(minutes=3))
    engine = DetectionEngine(rules=load_rules())
    engine.process(first_day)
    opened = [
        alert.rule for kind, alert in engine.process(chores).changes if kind == "alert.opened"
    ]
    assert opened == [], opened


def test_a_call_whose_own_red_flag_stands_is_not_counted_as_excused() -> None:
    """Admin for a user made a minute ago is the backdoor itself: its red flag pages though the
    window count on the same call is held as "a target created recently" (review)."""
    engine = DetectionEngine(rules=load_rules())
    engine.process(history())
    bob = {"userName": "bob"}
    grant = {**bob, "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    backdoor = [
        call("CreateUser", "iam", bob, TEST_DAY),
        call("AttachUserPolicy", "iam", grant, TEST_DAY + timedelta(seconds=20)),
    ]
    opened = [a.rule for kind, a in engine.process(backdoor).changes if kind == "alert.opened"]
    assert "redflag:admin_policy_attached" in opened, opened
    state = engine.states[backdoor[0].principal_key]
    assert state.excused_counts() is None, "a call with an unexplained red flag is not excused"


def test_a_new_user_put_in_the_administrators_group_is_no_new_hire() -> None:
    """Onboarding excuses keys and a password for a user a person just created and put in a
    group -- unless the group is the administrators', in whatever order the calls come (review:
    a person's user, Admins group and keys in a minute paged only when an unrelated count
    happened to corroborate it; with the password and keys first, not at all)."""
    user = {"userName": "bob"}

    def opened(group: str, order: tuple[str, ...]) -> list[str]:
        engine = DetectionEngine(rules=load_rules())
        engine.process(history())
        params = {
            "CreateUser": user,
            "AddUserToGroup": {**user, "groupName": group},
            "CreateLoginProfile": user,
            "CreateAccessKey": user,
        }
        day = [
            call(action, "iam", params[action], TEST_DAY + timedelta(seconds=20 * i))
            for i, action in enumerate(order)
        ]
        changes = engine.process(day).changes
        return sorted({rule for kind, a in changes if kind == "alert.opened" for rule in a.rules})

    group_first = ("CreateUser", "AddUserToGroup", "CreateAccessKey")
    keys_first = ("CreateUser", "CreateLoginProfile", "CreateAccessKey", "AddUserToGroup")
    for order in (group_first, keys_first):
        assert opened("developers", order) == [], order  # a new hire
        for group in ("Admins", "platform-power-users", "BreakGlass"):
            assert "redflag:admin_policy_attached" in opened(group, order), (group, order)
    assert opened("ReadOnlyAdmins", group_first) == []  # reads only, whatever else it says


def test_which_group_names_say_administrators() -> None:
    admins = ("Admins", "AWS-Admins", "PlatformAdmins", "Administrators", "power-users")
    others = ("developers", "eng-readonly", "data-admins-readonly", "CodeOwners", "chroot-builders")
    assert all(privileged_group(name) for name in admins)
    assert not any(privileged_group(name) for name in others)
    assert not privileged_group("HR-Administration") and not privileged_group("product-owners")
