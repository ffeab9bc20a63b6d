"""Handover: new compute handed a role that is another identity (iam:PassRole escalation), and
the function so made run by its creator. Part of BehaviourDetector (detect.anomaly.behaviour)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from detect.anomaly.habit import MAX_VALUES, Seen, make_finding
from detect.context.org import OrgMemory, account_of, role_of
from detect.features import PrincipalState
from detect.findings import Finding
from detect.rules.record import field as lookup
from ingest.events import AuditEvent

__all__ = ["RUN_BORROWED_RULE", "Handover"]

# A function created with another function's own role, run by its creator this soon after
RUN_BORROWED_MS = 15 * 60_000
RUN_BORROWED_RULE = "baseline:borrowed_role_run"
MAX_BORROWED = 8  # such functions remembered per principal
INVOKE_ACTIONS = frozenset({"Invoke", "InvokeAsync", "InvokeWithResponseStream"})
# Calls that give EC2 instances an instance profile: a launch, an association, a spot request,
# or a launch template or configuration (which fleets, spot fleets and Auto Scaling groups
# launch from: the template names the profile, the launch does not)
INSTANCE_LAUNCHES = frozenset(
    {
        "RunInstances",
        "AssociateIamInstanceProfile",
        "ReplaceIamInstanceProfileAssociation",
        "RequestSpotInstances",
        "CreateLaunchTemplate",
        "CreateLaunchTemplateVersion",
        "CreateLaunchConfiguration",  # (Auto Scaling's older templates)
    }
)
# an instance profile as CloudTrail logs it: RunInstances' own parameter, or the request object
# the association and template calls wrap it in (review: `AssociateIamInstanceProfileRequest`;
# traildiscover's CreateLaunchTemplate record: `CreateLaunchTemplateRequest.LaunchTemplateData`)
_PROFILE_PATHS = (
    ("iamInstanceProfile",),  # (a launch configuration's: the name or ARN itself)
    ("iamInstanceProfile", "name"),
    ("iamInstanceProfile", "arn"),
    ("launchSpecification", "iamInstanceProfile", "name"),
    ("launchSpecification", "iamInstanceProfile", "arn"),
    ("AssociateIamInstanceProfileRequest", "IamInstanceProfile", "Name"),
    ("AssociateIamInstanceProfileRequest", "IamInstanceProfile", "Arn"),
    ("ReplaceIamInstanceProfileAssociationRequest", "IamInstanceProfile", "Name"),
    ("ReplaceIamInstanceProfileAssociationRequest", "IamInstanceProfile", "Arn"),
    ("CreateLaunchTemplateRequest", "LaunchTemplateData", "IamInstanceProfile", "Name"),
    ("CreateLaunchTemplateRequest", "LaunchTemplateData", "IamInstanceProfile", "Arn"),
    ("CreateLaunchTemplateVersionRequest", "LaunchTemplateData", "IamInstanceProfile", "Name"),
    ("CreateLaunchTemplateVersionRequest", "LaunchTemplateData", "IamInstanceProfile", "Arn"),
)
# EC2 names an instance profile's sessions for the instance: the caller runs on EC2
_INSTANCE_SESSION = re.compile(r"^i-[0-9a-f]{8,17}$")
# Calls that hand a role to new compute (iam:PassRole): where the request names the role, and
# the AWS service that will act with it (as it appears when AWS assumes the role)
PASSED_ROLES: dict[str, tuple[tuple[tuple[str, ...], ...], str]] = {
    "CreateFunction20150331": ((("role",),), "lambda"),
    "CreateFunction": ((("role",),), "lambda"),
    "UpdateFunctionConfiguration20150331v2": ((("role",),), "lambda"),
    "UpdateFunctionConfiguration": ((("role",),), "lambda"),
    **dict.fromkeys(INSTANCE_LAUNCHES, (_PROFILE_PATHS, "ec2")),
    "RegisterTaskDefinition": ((("taskRoleArn",), ("executionRoleArn",)), "ecs-tasks"),
    "CreateStack": ((("roleARN",),), "cloudformation"),
    "UpdateStack": ((("roleARN",),), "cloudformation"),
    "CreateChangeSet": ((("roleARN",),), "cloudformation"),
    "CreateDevEndpoint": ((("roleArn",),), "glue"),
    "CreateJob": ((("role",), ("roleArn",)), "glue"),
    "CreateNotebookInstance": ((("roleArn",),), "sagemaker"),
    "CreateProject": ((("serviceRole",),), "codebuild"),
}


class Handover:
    """PassRole checks (see module)."""

    def __init__(self, org: OrgMemory) -> None:
        self.org = org

    def passed_role(
        self,
        state: PrincipalState,
        event: AuditEvent,
        record: Mapping[str, Any],
        seen: Seen,
        *,
        new_action: bool,
        noted_net: bool = False,
    ) -> Finding | None:
        """New compute handed a role that is another identity (iam:PassRole escalation): a
        function, instance or task created with a person's, an AI agent's, a permission
        changer's or CloudFormation's role runs with permissions its creator borrowed. A
        service's own role (AWS assumed it for that service before), a role created within the
        day (a deploy creating its function's role), the caller's own role and a role it
        handed over before are how deploys look -- but an AI agent's function under its own
        role waits for the agent to run it (_own_role)."""
        spec = PASSED_ROLES.get(event.action)
        if spec is None:
            return None
        paths, service = spec
        values = (lookup(record, "requestParameters", *path) for path in paths)
        for value in (str(v) for v in values if isinstance(v, str) and v):
            role = role_of(value) or self._profile_role(value, event.account, service)
            # a hand-over is a habit for the service it was made to: a pipeline that hands
            # CloudFormation its deployment role on every release handing that role to a new
            # function is new (fresh seed 1139: a CI role's first function, given the role its
            # stacks deploy with, invoked 30 s later -- nothing paged); and of the role, not of
            # the profile's name (review: another role put in a profile launched with before)
            handed = f"{service} {role[0]}/{role[1].lower()}"
            if handed in seen.passed:
                continue
            caller = role_of(event.principal)
            if caller is not None and _same_role(caller, role):
                role = caller  # (as the caller's sessions name it: what Leash learned it by)
                held = self._own_role(state, event, record, role, seen, new_action=new_action)
                if len(seen.passed) < MAX_VALUES:
                    seen.passed.add(handed)  # the first time is judged; after it, its way
                if held is not None:
                    return held
                continue
            if len(seen.passed) < MAX_VALUES:
                seen.passed.add(handed)
            if self.org.young(role[1], event.event_time_ms):
                continue
            capacity = self.org.identity_role(role, service)
            waits = False
            if not capacity and event.action in INSTANCE_LAUNCHES:
                capacity = self._agents_first_launch(state, role, service, new_action=new_action)
                if not capacity:
                    capacity = self._persons_first_launch(
                        state, role, service, new_action=new_action and noted_net
                    )
                    waits = bool(capacity)
            if not capacity:
                held = self._function_role(state, event, record, role, value, seen)
                if held is not None:
                    return held
                continue
            finding = make_finding(
                state,
                event,
                "baseline:borrowed_role",
                "high",
                f"{event.action} hands {role[1]}, {capacity}, to new {service} compute: "
                "code that runs with another identity's permissions",
                explanation={
                    "action": event.action,
                    "role": value,
                    "capacity": capacity,
                    "host_or_production": True,
                },
            )
            return replace(finding, tier="hold") if waits else finding
        return None

    def _persons_first_launch(
        self, state: PrincipalState, role: tuple[str, str], service: str, *, new_action: bool
    ) -> str:
        """_agents_first_launch for a person, from a network a context note called new to
        them within the hour (`new_action` says both): one who never launched an instance
        giving the new one a workload's role waits, and that note is its second sign (fresh
        seed 1602: a person's stolen password, from a network she never used, listed roles and
        policies and launched a t3.micro with a staging instance's profile: only the note said
        anything). From their own networks a person's first test instance under the staging
        profile is how people try things: its lookups before it (first-seen listings, held)
        would corroborate it (review), so it is not judged. "" when it is not that."""
        if state.actor_kind != "human" or not state.mature or not new_action:
            return ""
        if not self.org.runs_for(role, service):
            return ""
        return "a workload's role, on the person's first launch"

    def _agents_first_launch(
        self, state: PrincipalState, role: tuple[str, str], service: str, *, new_action: bool
    ) -> str:
        """An AI agent that never made this launch call giving the new instances a role other
        than its own -- a workload's, one EC2 runs already: the instance runs as it boots, with
        that workload's permissions, on a host the agent controls (fresh seed 1365: an Athena
        data agent listed roles, then launched a t3.micro with a production instance's profile
        at an hour it never works; a service's own role handed to its compute looked like a
        deploy, and nothing paged). An agent that launches instances as its work made the call
        before (its trained profile knows it); pipelines hand their fleets' roles over every day
        and wait for the identity roles passed_role names, people too unless from a network new
        to them (_persons_first_launch); a role Leash never saw AWS run is judged by nothing.
        "" when it is not that."""
        if state.actor_kind != "agent" or not state.mature or not new_action:
            return ""
        if not self.org.runs_for(role, service):
            return ""
        return "another workload's role, on the agent's first launch"

    def _profile_role(self, value: str, account: str, service: str) -> tuple[str, str]:
        """(account, role name) of a role named, or of the instance profile named, by name or
        ARN: the role Leash saw put in that profile, else the profile's own name (the console
        names a role's instance profile as the role)."""
        name = value.rpartition("/")[2] if "/" in value else value
        if service != "ec2":
            return account, name
        if ":instance-profile/" in value:
            account = account_of(value) or account
        return account, self.org.profile_role(account, name) or name

    def _function_role(
        self,
        state: PrincipalState,
        event: AuditEvent,
        record: Mapping[str, Any],
        role: tuple[str, str],
        value: str,
        seen: Seen,
    ) -> Finding | None:
        """A person or an AI agent creating a function with -- or switching one to -- the
        role another function runs with (Lambda ran it only for that one or two): the code gets
        that workload's permissions (seed 934: a person's function with the IAM key rotator's
        role). A variant of the function (its name in the new one's) is how people reuse a
        role (OrgMemory.function_role); otherwise this waits, and running the function within
        RUN_BORROWED_MS (_runs_borrowed) is its second sign. Pipelines deploy (a replaced
        function gets a new name), so theirs are not judged here -- but a role another account
        signs in to (a vendor's integration) is no pipeline of ours (fresh seed 1303: a
        scanner vendor's role created a function with the IAM key rotator's role and invoked
        it seven seconds later)."""
        if state.actor_kind not in ("human", "agent") and not self._vendors(event):
            return None
        # (Lambda's calls only -- a create or a configuration update -- name a function)
        function = function_name(lookup(record, "requestParameters", "functionName"))
        whose = self.org.function_role(role, function) if function else ""
        if not whose:
            return None
        why = "code with another workload's permissions"
        return _held(state, event, seen, function, role[1], whose, why, value)

    def _own_role(
        self,
        state: PrincipalState,
        event: AuditEvent,
        record: Mapping[str, Any],
        role: tuple[str, str],
        seen: Seen,
        *,
        new_action: bool,
    ) -> Finding | None:
        """An AI agent creating a function -- or launching an instance -- with its own role:
        code that keeps running with the agent's permissions after its session ends, where
        neither the gate nor a quarantine of the session reaches it (seed 998: a coding
        agent's function under its own role, invoked twenty seconds later). Deploys hand
        functions roles of their own, so this is rare work -- but not unheard of: the first
        time a mature agent does it waits, and running the function within RUN_BORROWED_MS
        (runs_borrowed) is its second sign; after that first time it is the agent's way of
        working (passed_role). An instance runs as it boots: its launch pages, the first
        time. (A person's own role is an Identity Center or a federated one, which no function
        can be given.) A workload's function under its own role is judged the same way: code
        that outlives the host or task whose credentials made it (fresh seed 1111: an instance
        role listed roles, created a function with its own role and invoked it 26 s later) --
        when the call itself is new to it (`new_action`): a deploy pipeline that creates
        functions is judged by what it hands them, and its habit is in the trained profile,
        which a restart keeps (the hand-overs remembered in `seen` are not: review). Its
        instance launches page only where AWS never ran EC2 with its role (a build controller
        on EC2 starts runners with its own profile): an ECS task's, a Lambda function's or a
        CI pipeline's web-identity role on a host the caller controls is those credentials
        kept past the task, the function or the job (fresh seeds 1284, 1289: an ECS task role
        and a GitHub Actions deploy role listed roles and policies, then launched an instance
        with their own role)."""
        if state.actor_kind not in ("agent", "service") or not state.mature:
            return None
        who = "the agent" if state.actor_kind == "agent" else "the workload"
        why = f"code that runs with {who}'s permissions outside its sessions"
        if event.action in INSTANCE_LAUNCHES:
            # an instance runs its user data as it boots: the launch is the run (fresh seed
            # 1057: a coding agent listed roles, then launched an instance with its own)
            said = capacity = f"{who}'s own role"
            if state.actor_kind == "service":
                session = event.principal.rpartition("/")[2]
                ec2 = self.org.identity_role(role, "ec2")
                if not ec2 or _INSTANCE_SESSION.match(session):
                    return None  # (a caller on EC2 itself: a build controller, after a restart)
                said, capacity = f"{capacity} and {ec2}", f"{capacity}, {ec2}"
            return make_finding(
                state,
                event,
                "baseline:borrowed_role",
                "high",
                f"{event.action} gives {_instances(event.action)} {role[1]}, {said}: {why}",
                explanation={
                    "action": event.action,
                    "role": role[1],
                    "capacity": capacity,
                    "host_or_production": True,
                },
            )
        if state.actor_kind == "service" and not new_action:
            return None
        # (Lambda's calls only -- a create or a configuration update -- name a function)
        function = function_name(lookup(record, "requestParameters", "functionName"))
        if not function:
            return None
        return _held(state, event, seen, function, role[1], f"{who}'s own role", why, role[1])

    def _vendors(self, event: AuditEvent) -> bool:
        """The caller's role is one an account Leash does not watch signs in to: a vendor's
        integration -- not the organisation's own tooling account deploying (review: a
        Terraform role assumed from the CI account, running its migrator)."""
        caller = role_of(event.principal)
        if caller is None:
            return False
        at = event.event_time_ms
        return any(
            not self.org.watched_ms(account, at) for account in self.org.outside_accounts(*caller)
        )

    def runs_borrowed(
        self, state: PrincipalState, event: AuditEvent, record: Mapping[str, Any], seen: Seen
    ) -> Finding | None:
        """The function held by _function_role invoked by its creator within RUN_BORROWED_MS:
        the create-and-run of a PassRole escalation."""
        if not seen.borrowed or event.action not in INVOKE_ACTIONS:
            return None
        function = function_name(lookup(record, "requestParameters", "functionName"))
        held = seen.borrowed.pop(function, None)
        if held is None:
            return None
        role, created_ms, created_id = held
        if not 0 <= event.event_time_ms - created_ms <= RUN_BORROWED_MS:
            return None
        return make_finding(
            state,
            event,
            RUN_BORROWED_RULE,
            "high",
            f"invoked {function}, given {role} "
            f"{(event.event_time_ms - created_ms) // 1000} s earlier: running code with its "
            "permissions",
            ids=(created_id, event.event_id),
            first_ms=created_ms,
            explanation={"action": event.action, "role": role},
        )


def _instances(action: str) -> str:
    """What an instance launch call gives a role to, in words."""
    if action.startswith("CreateLaunch"):
        return "the instances launched from it"
    return "instances" if action == "RequestSpotInstances" else "an instance"


def _held(
    state: PrincipalState,
    event: AuditEvent,
    seen: Seen,
    function: str,
    role: str,
    whose: str,
    why: str,
    role_value: str,
) -> Finding:
    """A function given `role` (`whose`): remembered for runs_borrowed, held until it runs."""
    if function not in seen.borrowed and len(seen.borrowed) >= MAX_BORROWED:
        seen.borrowed.pop(next(iter(seen.borrowed)))
    seen.borrowed[function] = (f"{role} ({whose})", event.event_time_ms, event.event_id)
    finding = make_finding(
        state,
        event,
        "baseline:borrowed_role",
        "high",
        f"{event.action} gives function {function} {role}, {whose}: {why}",
        explanation={"action": event.action, "role": role_value, "capacity": whose},
    )
    return replace(finding, tier="hold")


def _same_role(caller: tuple[str, str], role: tuple[str, str]) -> bool:
    """IAM role names are unique without regard to case: `Orders-Task` is `orders-task`."""
    return caller[0] == role[0] and caller[1].lower() == role[1].lower()


def function_name(value: Any) -> str:
    """A Lambda function's name from a name, a partial ARN or an ARN (with a version)."""
    if not isinstance(value, str):
        return ""
    name: str = value.split(":function:", 1)[1] if ":function:" in value else value
    return name.partition(":")[0]
