"""Launching mining-sized compute in a region the organisation never works in pages.

GPU instances anywhere new have paged for long; CPU miners rent the biggest general machines
instead (c5.24xlarge, m6i.32xlarge, metal), and a stolen session launching one in a region
nobody in the organisation uses is the same hijack (seed 842: a person's SSO session from a
new network, `c5.24xlarge` in ap-east-1). The same machine in the organisation's own region is
a workload's, a small one elsewhere is a test, and on an install's first days every region is
one nobody used yet.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

ACCOUNT = "123456789012"
PERSON = {
    "type": "IAMUser",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/quinn",
    "accountId": ACCOUNT,
    "userName": "quinn",
    "principalId": "AIDAEXAMPLEQUINN",
}
DAY = timedelta(days=1)


def call(action: str, at: datetime, *, region: str = "us-east-1", **params: object) -> AuditEvent:
    return make_event(
        eventName=action,
        eventSource="ec2.amazonaws.com",
        awsRegion=region,
        readOnly=action.startswith("Describe"),
        requestParameters=params or None,
        userIdentity=PERSON,
        userAgent="aws-cli/2.15.30 Python/3.11.8 Linux/6.5",
        at=at,
    )


def workdays(days: int) -> list[AuditEvent]:
    """The person's days in the organisation's one region (us-east-1)."""
    return [
        call("DescribeInstances", BASE_TIME + day * DAY + timedelta(minutes=3 * n))
        for day in range(days)
        for n in range(80)
    ]


def launch(instance_type: str, region: str, at: datetime) -> AuditEvent:
    return call("RunInstances", at, region=region, instanceType=instance_type, minCount=4)


def opened(events: list[AuditEvent]) -> list[str]:
    engine = DetectionEngine(rules=load_rules())
    changes = engine.process(sorted(events, key=lambda e: e.event_time_ms)).changes
    return [alert.rule for change, alert in changes if change == "alert.opened"]


def test_mining_sized_cpu_machines_in_an_unused_region_page() -> None:
    for big in ("c5.24xlarge", "m6i.32xlarge", "c6i.metal", "r5.8xlarge"):
        at = BASE_TIME + 4 * DAY + timedelta(hours=5)
        assert opened([*workdays(4), launch(big, "ap-east-1", at)]) == [
            "baseline:compute_hijack"
        ], big


def test_the_same_machines_at_home_a_small_one_elsewhere_or_on_day_one_do_not() -> None:
    at = BASE_TIME + 4 * DAY + timedelta(hours=5)
    assert opened([*workdays(4), launch("c5.24xlarge", "us-east-1", at)]) == []
    assert opened([*workdays(4), launch("t3.large", "ap-east-1", at)]) == []
    assert opened([*workdays(4), launch("c5.4xlarge", "ap-east-1", at)]) == []
    first_day = BASE_TIME + timedelta(hours=5)
    assert opened([*workdays(1), launch("c5.24xlarge", "ap-east-1", first_day)]) == []


def test_a_principal_new_to_leash_launching_in_an_unused_region_pages() -> None:
    """Fresh seed 1305: an Identity Center user on her second day launched g5.12xlarge machines
    in a region nobody in the organisation used -- noted, since her own baseline was still
    being learned. The organisation's regions are what make it strange, and Leash has watched
    them for days; on the install's own first days it still waits."""
    colleague = {**PERSON, "arn": f"arn:aws:iam::{ACCOUNT}:user/rosa", "userName": "rosa"}
    org = [
        make_event(
            eventName="DescribeInstances",
            eventSource="ec2.amazonaws.com",
            userIdentity=colleague,
            at=BASE_TIME + day * DAY + timedelta(minutes=3 * n),
        )
        for day in range(4)
        for n in range(80)
    ]
    at = BASE_TIME + 4 * DAY + timedelta(hours=5)
    newcomer = [call("DescribeInstances", at - timedelta(hours=20))]
    for machine in ("g5.12xlarge", "c5.24xlarge"):
        assert opened([*org, *newcomer, launch(machine, "ap-northeast-3", at)]) == [
            "baseline:compute_hijack"
        ], machine
    assert opened([*org, *newcomer, launch("g5.12xlarge", "us-east-1", at)]) == []
    # AWS Config describing every governed region does not put one in use (review)
    config = [
        make_event(
            eventName="DescribeInstances",
            eventSource="ec2.amazonaws.com",
            awsRegion="ap-northeast-3",
            sourceIPAddress="config.amazonaws.com",
            userAgent="config.amazonaws.com",
            role="AWSServiceRoleForConfig",
            session="AWSConfig-Describe",
            at=BASE_TIME + day * DAY + timedelta(minutes=n),
        )
        for day in range(4)
        for n in range(60)
    ]
    assert opened([*org, *config, *newcomer, launch("g5.12xlarge", "ap-northeast-3", at)]) == [
        "baseline:compute_hijack"
    ]
    first_day = BASE_TIME + timedelta(hours=5)
    assert opened([*org[:80], launch("g5.12xlarge", "ap-northeast-3", first_day)]) == []


def test_spot_requests_and_fleets_of_mining_sized_machines_page_as_launches_do() -> None:
    """Spot capacity is the miner's discount (60-90% off) and a fleet starts many machines in
    one call: the instance types sit in the spot request's launch specification or in a
    fleet's overrides, not where RunInstances names one."""
    at = BASE_TIME + 4 * DAY + timedelta(hours=5)
    spot = call(
        "RequestSpotInstances",
        at,
        region="ap-east-1",
        instanceCount=20,
        launchSpecification={"instanceType": "c5.24xlarge", "imageId": "ami-0abc"},
    )
    fleet = call(
        "CreateFleet",
        at,
        region="ap-east-1",
        CreateFleetRequest={
            "Type": "instant",
            "LaunchTemplateConfigs": {
                "LaunchTemplateSpecification": {"LaunchTemplateId": "lt-0780d55503d605988"},
                "Overrides": [{"InstanceType": "c5.24xlarge"}, {"InstanceType": "m6i.32xlarge"}],
                "tag": 1,
            },
        },
    )
    for request in (spot, fleet):
        assert opened([*workdays(4), request]) == ["baseline:compute_hijack"], request.action
    small = call(
        "RequestSpotInstances",
        at,
        region="ap-east-1",
        launchSpecification={"instanceType": "t3.large"},
    )
    assert opened([*workdays(4), small]) == []


def test_a_fleet_that_lists_a_gpu_type_among_general_candidates_does_not_page() -> None:
    """Review: Karpenter, Batch and mixed-instance fleets list dozens of candidate types, and
    EC2 picks among them: one GPU type among general ones at home is no GPU launch."""
    at = BASE_TIME + 4 * DAY + timedelta(hours=5)
    candidates = [{"InstanceType": t} for t in ("m5.large", "c5.xlarge", "g4dn.xlarge")]
    request = {"Type": "instant", "LaunchTemplateConfigs": {"Overrides": candidates}}
    mixed = call("CreateFleet", at, CreateFleetRequest=request)
    assert opened([*workdays(4), mixed]) == []
    only_gpus = {"Type": "instant", "LaunchTemplateConfigs": {"Overrides": candidates[2:]}}
    gpus = call("CreateFleet", at, CreateFleetRequest=only_gpus)
    assert opened([*workdays(4), gpus]) == ["baseline:compute_hijack"]


def test_a_launch_or_a_fleet_that_names_only_its_template_takes_the_templates_types() -> None:
    """Review: a `RunInstances` with `launchTemplate`, or a `CreateFleet` without overrides,
    names no instance type -- the template does (`CreateLaunchTemplateRequest.LaunchTemplateData`
    as traildiscover's real record has it; its id comes back in the response)."""
    made = BASE_TIME + 4 * DAY + timedelta(hours=4)
    at = made + timedelta(minutes=5)

    def template(kind: str) -> AuditEvent:
        return make_event(
            eventName="CreateLaunchTemplate",
            eventSource="ec2.amazonaws.com",
            awsRegion="ap-east-1",
            readOnly=False,
            requestParameters={
                "CreateLaunchTemplateRequest": {
                    "LaunchTemplateName": "batch-workers",
                    "LaunchTemplateData": {
                        "ImageId": "ami-0b98a32b1c5e0d105",
                        "InstanceType": kind,
                    },
                }
            },
            responseElements={
                "CreateLaunchTemplateResponse": {
                    "launchTemplate": {
                        "launchTemplateId": "lt-0780d55503d605988",
                        "launchTemplateName": "batch-workers",
                    }
                }
            },
            userIdentity=PERSON,
            userAgent="aws-cli/2.15.30 Python/3.11.8 Linux/6.5",
            at=made,
        )

    by_id = call(
        "RunInstances",
        at,
        region="ap-east-1",
        launchTemplate={"launchTemplateId": "lt-0780d55503d605988", "version": "$Latest"},
    )
    specification = {"LaunchTemplateSpecification": {"LaunchTemplateName": "batch-workers"}}
    by_name = call(
        "CreateFleet",
        at,
        region="ap-east-1",
        CreateFleetRequest={"Type": "instant", "LaunchTemplateConfigs": specification},
    )
    for launch in (by_id, by_name):
        found = opened([*workdays(4), template("p4d.24xlarge"), launch])
        assert found == ["baseline:compute_hijack"], launch.action
        assert opened([*workdays(4), template("t3.micro"), launch]) == [], launch.action
        assert opened([*workdays(4), launch]) == [], launch.action  # a template never seen made
