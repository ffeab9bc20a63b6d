"""OrgMemory: what the organisation's whole stream teaches about an event's context.

Per principal, PrincipalState knows what is usual for it. Some context belongs to nobody in
particular: when a resource was created and by whom (a delete of something made minutes ago is
clean-up, not destruction), which AWS accounts the organisation deals with (a trust policy to a
known partner is not an opening to a stranger), which regions it works in, and which principal
asked CloudFormation for the deletions CloudFormation then makes under its own role. Event-time
driven and bounded; built from the stream alone, so a replay rebuilds it.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from detect.features import (
    DAY_MS,
    EPHEMERAL_NAME_RE,
    ITEM_DELETES,
    client_of,
    net_of,
    resource_name,
)
from detect.features.actor import identity_of
from detect.rules.record import base_action, field, record_of, statements
from detect.rules.redflags.field import is_true
from detect.rules.redflags.identity import grants_everything, privileged_group
from ingest.events import AuditEvent

__all__ = [
    "EPHEMERAL_NAME_RE",
    "OWN_CREDENTIAL_ACTIONS",
    "OrgMemory",
    "StackOp",
    "account_of",
    "role_of",
]

_K = TypeVar("_K")
_V = TypeVar("_V")
MAX_BIRTHS = 200_000  # resources whose creation is remembered (oldest forgotten first)
MAX_ACCOUNTS = 10_000  # account ids remembered
YOUNG_MS = 24 * 3_600_000  # a resource created less than this ago is not a lasting one
STACK_OP_WINDOW_MS = 3_600_000  # CloudFormation acts on a stack operation within this time
# CloudFormation works through one stack's resources call after call: a call of its role that
# names no stack (an instance id) this soon after one that did is that stack's (initiator)
STACK_RUN_GAP_MS = 60_000
STACK_OP_KEEP_MS = 24 * 3_600_000  # stack operations remembered behind the newest event time
REGION_KNOWN_EVENTS = 200  # events in a region (by anyone) before the region counts as in use
# Global services log in us-east-1 whichever region the organisation works in (IAM, the STS
# global endpoint, console sign-in, Route 53, CloudFront, Organizations, billing; S3's bucket
# list): their calls do not put a region in use
GLOBAL_SOURCES = frozenset(
    {
        "iam.amazonaws.com",
        "sts.amazonaws.com",
        "signin.amazonaws.com",
        "organizations.amazonaws.com",
        "route53.amazonaws.com",
        "route53domains.amazonaws.com",
        "cloudfront.amazonaws.com",
        "support.amazonaws.com",
        "health.amazonaws.com",
        "budgets.amazonaws.com",
        "ce.amazonaws.com",
        "account.amazonaws.com",
        "globalaccelerator.amazonaws.com",
    }
)
GLOBAL_ACTIONS = frozenset({"ListBuckets"})
# A run (one session of a principal: a CI job, an agent run) that has deleted this many resources
# named as temporary or just created, the last within TEARDOWN_GAP_MS, is tearing down what is
# temporary; the resources it deletes that carry only a generated id (instances, volumes) go with
# them. MAX_RUNS bounds the runs remembered.
TEARDOWN_DELETES = 3
TEARDOWN_GAP_MS = 3_600_000
MAX_RUNS = 10_000
# how long a paged sign that someone else holds a principal's credentials is remembered (a rule
# such as an attack tool's client; a workload's credentials used elsewhere): a volume back at
# what that day reached is the intruder back, not the principal's habit (triage._recurring)
COMPROMISE_MEMORY_MS = 7 * DAY_MS
MAX_HOLDER_NETS = 4  # networks of the credentials' holders remembered per principal
HOLDER_SAID_MS = 12 * 3_600_000  # a holder's return is said at most this often per network
FAILED_SIGN_INS_KEPT = 16  # refused console sign-ins remembered per principal
MFA_HABIT = 3  # sign-ins with MFA, and none without, after which one without it pages
MAX_NETS = 100_000  # networks (net_of) whose users are remembered (least recently used forgotten)
MAX_ROLES = 50_000  # roles whose use is remembered (least recently used forgotten)
NO_MFA_NORM_USERS = 3  # other people signing in to the console without MFA: the org's habit
# an account Leash has watched for less than this has shown nobody's habits yet (install days;
# an install that starts on a weekend has met the weekend's few people, not the workforce that
# arrives on Monday: it counts from then -- OrgMemory.young_account)
ACCOUNT_YOUNG_MS = 2 * DAY_MS
MAX_OUTSIDE_ACCOUNTS = 16  # per role: a vendor's few accounts, bounded against a flood
# A role Lambda ran for at most this many functions (AWS names the session after the function)
# is those functions' own: a new function handed it runs with their permissions. More, and it is
# a shared execution role (lambda-basic-execution) that new functions are meant to reuse.
DEDICATED_FUNCTIONS = 2
# ... but Lambda's event-source pollers (a stream or queue mapping) assume it as
# "awslambda_<n>_<timestamp>", a new name each time: not functions
_LAMBDA_POLLER = re.compile(r"^(awslambda_\d+_\d+)?$")
SHARED_NET_USERS = 2  # other principals on a network that make it the organisation's own
# Identity Center's sign-in steps and portal calls (`Federate`, `CredentialChallenge`, ...) are
# logged under the directory user, another principal than the role session they open -- the
# same person, who must not vouch for their own network (seed 976: a stolen SSO sign-in from a
# Tor exit, its own Federate and one more made the exit "where colleagues work"). An IAM user's
# console sign-in is that user's own.
_DIRECTORY_USER = re.compile(r"^arn:[^:]+:identitystore:")
# Networks a principal deletes: the flow logs or DNS query logs that watched them go next
NETWORK_DELETES = frozenset(
    {
        "DeleteVpc",
        "DeleteSubnet",
        "DeleteNatGateway",
        "DeleteTransitGateway",
        "DeleteTransitGatewayVpcAttachment",
        "DeleteVpcPeeringConnection",
        "DeleteNetworkInterface",
    }
)
# Log groups hold what monitoring recorded: deleting one is evasion (its action class) and the
# loss of a lasting resource too -- counted with lasting deletes (detect.engine), unless what it
# logged was deleted within the day (a decommissioned function's logs)
LOG_GROUP_DELETES = frozenset({"DeleteLogGroup"})
# Deletes of copies, old versions and logs -- what retention jobs and janitors remove by design --
# as opposed to the live resources an application runs on (its functions, tables, buckets,
# queues, databases): DetectionEngine._newcomer judges a new AI agent's deletes of the latter
# even on an install's first week
PRUNING_DELETES = frozenset(
    {
        "DeleteSnapshot",
        "DeleteDBSnapshot",
        "DeleteDBClusterSnapshot",
        "DeleteClusterSnapshot",
        "DeleteBackup",
        "DeleteRecoveryPoint",
        "DeregisterImage",
        "BatchDeleteImage",
        "DeleteLayerVersion",
        "DeleteLayerVersion20181031",
        "DeletePolicyVersion",
        "DeleteLaunchTemplateVersions",
        "DeleteObjectVersion",
        "DeleteLogStream",
        "DeleteDBInstanceAutomatedBackup",
        "DeleteDBClusterAutomatedBackup",
        "DeleteArchive",
        "DeleteTableVersion",
        "BatchDeleteTableVersion",
        "DeleteApplicationVersion",
        *LOG_GROUP_DELETES,
    }
)


def prunes(event: AuditEvent) -> bool:
    """The call deletes a copy, an old version or logs (PRUNING_DELETES) -- a Lambda delete with
    a qualifier removes one version of the function, not the function (review)."""
    if event.action in PRUNING_DELETES:
        return True
    if not event.action.startswith("DeleteFunction"):
        return False
    qualifier = field(field(record_of(event), "requestParameters"), "qualifier")
    return isinstance(qualifier, str) and bool(qualifier)


# a person's own keys, password and MFA: credential upkeep, not permission work
OWN_CREDENTIAL_ACTIONS = frozenset(
    {
        "CreateAccessKey",
        "UpdateAccessKey",
        "DeleteAccessKey",
        "ChangePassword",
        "CreateVirtualMFADevice",
        "EnableMFADevice",
        "DeactivateMFADevice",
        "ResyncMFADevice",
        "UploadSSHPublicKey",
        "UpdateSigningCertificate",
    }
)
_EPHEMERAL = re.compile(EPHEMERAL_NAME_RE)
# the calls that put a role in an instance profile, or take it out
_PROFILE_ROLES = frozenset({"AddRoleToInstanceProfile", "RemoveRoleFromInstanceProfile"})
# the calls that make a launch template or a version of it: what instance types it names
_TEMPLATE_WRITES = frozenset({"CreateLaunchTemplate", "CreateLaunchTemplateVersion"})
MAX_TEMPLATE_TYPES = 16  # instance types remembered per launch template
_POLICY_WRITES = frozenset(
    {
        "CreatePolicy",
        "CreatePolicyVersion",
        "SetDefaultPolicyVersion",
        "DeletePolicyVersion",
        "DeletePolicy",
    }
)
MAX_POLICY_VERSIONS = 16  # versions remembered per managed policy (IAM keeps at most five)
_CREATE = re.compile(r"^(Create|Run|Launch|PutObject$|Register|Restore|Import|Allocate|Copy)")
# calls named like creations that only change an existing resource (a tag does not make the
# bucket young)
_AMENDS = re.compile(r"(Tags?|Polic(y|ies)|Permission|Acl|Configuration|Attributes?|Grant)$")
# what a create call makes something in or from, by call -- never what it makes: a log
# stream's group, an object's bucket, a snapshot's volume or database, an image's instance, a
# restored database's snapshot (fresh seed 1125: an instance writing a function's logs made the
# function "created by it", and its first UpdateFunctionCode on that production function was
# excused as work on its own new resource). By call, because ingest names every identifier of a
# request a resource: CreateDBInstance names its subnet group and key too, and makes the database
_MADE_IN: dict[str, tuple[str, ...]] = {
    "CreateLogStream": ("logGroupName",),
    "PutObject": ("bucketName",),
    "CopyObject": ("bucketName",),
    "CreateMultipartUpload": ("bucketName",),
    "CreateSnapshot": ("volumeId",),
    "CreateSnapshots": ("instanceId",),
    "CreateImage": ("instanceId",),
    "CreateDBSnapshot": ("dBInstanceIdentifier",),
    "CreateDBClusterSnapshot": ("dBClusterIdentifier",),
    "CopyDBSnapshot": ("sourceDBSnapshotIdentifier",),
    "CopySnapshot": ("sourceSnapshotId",),
    "RestoreDBInstanceFromDBSnapshot": ("dBSnapshotIdentifier",),
    "RestoreDBClusterFromSnapshot": ("snapshotIdentifier",),
    "CreateAssociation": ("name",),  # SSM: the document an association runs
}
# what a create call is named for: CreateDBInstance -> DBInstance, RestoreDBInstanceFrom
# DBSnapshot -> DBInstance, RunInstances -> Instance; and an identifier parameter's stem
_NOUN_PREFIX = re.compile(r"^(Create|Run|Launch|Register|Restore|Import|Allocate|Copy|Put)")
_NOUN_TAIL = re.compile(r"(?<=[a-z])((From|To|For|With)[A-Z].*|ReadReplica|V\d+)$")
_ID_KEY = re.compile(r"(?i)(identifier|names?|arns?|ids?)$")
# what a copy or a restore names its new resource by: CopyDBSnapshot's
# targetDBSnapshotIdentifier, RestoreTableFromBackup's targetTableName
_TARGET = re.compile(r"^(target|destination|new)(?=[A-Z])")
# create calls whose noun is not the stem of the parameter naming what they make
_MADE_BY: dict[str, str] = {
    "CreateKeyPair": "keyName",
    "ImportKeyPair": "keyName",
    "CreateMultipartUpload": "key",
    "RestoreFromClusterSnapshot": "clusterIdentifier",
}
_WRAPPER = re.compile(r"(Input|Request)$")  # Glue's tableInput, EC2's CreateLaunchTemplateRequest
# identifiers that name no resource a create call makes (the key it encrypts with, an account)
_NOT_RESOURCES = frozenset({"kmskeyid", "requestid", "accountid", "catalogid"})
_ONBOARDING = frozenset({"AddUserToGroup", "CreateLoginProfile"})
_STACK_OPS = frozenset({"CreateStack", "UpdateStack", "DeleteStack", "ExecuteChangeSet"})
_DELEGATING = "cloudformation.amazonaws.com"
_OPAQUE_ID = re.compile(r"^[a-z]{1,8}-[0-9a-f]{8,}$")  # i-0abc..., vol-..., eni-...: no name
_ACCOUNT_DIGITS = 12
# a run of digits as long as an account id or longer: learn_accounts keeps those of exactly
# _ACCOUNT_DIGITS -- the ids `(?<!\d)\d{12}(?!\d)` finds, at half the cost (no lookaround at
# every character of the record)
_DIGIT_RUN = re.compile(r"\d{12,}")
_ACCOUNT_CARRIERS = frozenset(
    {
        "AssumeRole",
        "AssumeRoleWithWebIdentity",
        "AssumeRoleWithSAML",
        "UpdateAssumeRolePolicy",
        "CreateRole",
        "ModifySnapshotAttribute",
        "ModifyImageAttribute",
        "ModifyDBSnapshotAttribute",
        "PutBucketPolicy",
    }
)


@dataclass(frozen=True)
class StackOp:
    """A principal's CloudFormation operation: CloudFormation acts on it under its own role."""

    at_ms: int
    account: str
    principal_key: str
    actor_kind: str
    action: str
    stack: str


OUTSIDE_SIGN_IN = "a role another account signs in to"
# a role signed in to through an identity provider's token (GitHub Actions, GitLab, an EKS
# pod, Cognito): its trust names that provider, not an AWS service, so no deploy hands it to
# compute
WEB_IDENTITY = "a role signed in to through web identity (a pipeline's or a pod's)"
_CAPACITIES = (  # the order an identity_role answer prefers
    "the role CloudFormation deploys with",
    "a role that changes permissions",
    "an AI agent's role",
    "a person's role",
    WEB_IDENTITY,
    OUTSIDE_SIGN_IN,
)


@dataclass
class _RoleUse:
    """The AWS services that assumed a role, and what its own sessions were seen doing."""

    services: set[str] = dataclasses.field(default_factory=set)
    capacities: set[str] = dataclasses.field(default_factory=set)
    outside: set[str] = dataclasses.field(default_factory=set)  # accounts that sign in to it
    functions: set[str] = dataclasses.field(default_factory=set)  # Lambda ran these with it


class OrgMemory:
    """Resource births, known accounts, regions in use and recent stack operations."""

    def __init__(self) -> None:
        self._births: OrderedDict[str, tuple[int, str]] = OrderedDict()  # name -> (ms, key)
        self._users_made: OrderedDict[str, tuple[int, str]] = OrderedDict()  # IAM user -> latest
        self._first_user_by: OrderedDict[str, int] = OrderedDict()  # creator -> its first user ms
        # account/role -> (created ms, creator, whether its trust names identities: accounts,
        # users, roles or an identity provider -- not only AWS services)
        self._roles_made: OrderedDict[str, tuple[int, str, bool]] = OrderedDict()
        # managed policy ARN -> since when its default version allows everything
        self._admin_policies: OrderedDict[str, int] = OrderedDict()
        # "account/launch template id or name" -> the instance types its versions name
        self._templates: OrderedDict[str, list[str]] = OrderedDict()
        # "account/profile" (lower case) -> the role IAM put in that instance profile
        self._profiles: OrderedDict[str, str] = OrderedDict()
        # managed policy ARN -> its versions seen made: version id -> (allows everything, ms)
        self._policy_versions: OrderedDict[str, dict[str, tuple[bool, int]]] = OrderedDict()
        self._destroyed: OrderedDict[str, int] = OrderedDict()  # lasting name -> last delete ms
        self._accounts: OrderedDict[str, int] = OrderedDict()  # account -> first seen ms
        # account -> its own first event (not a mention in someone's trust policy): watched_ms
        self._watched: OrderedDict[str, int] = OrderedDict()
        self._identities: OrderedDict[str, int] = OrderedDict()  # identity_of -> first event ms
        self._regions: dict[str, int] = {}
        self._stack_ops: deque[StackOp] = deque()
        # CloudFormation's role session -> (its last call's ms, the operation that call was for)
        self._delegated: OrderedDict[str, tuple[int, StackOp]] = OrderedDict()
        self._runs: OrderedDict[str, tuple[int, int]] = OrderedDict()  # run -> (deletes, last ms)
        self._network_deleted: OrderedDict[str, int] = OrderedDict()  # principal key -> last ms
        self._onboarded: OrderedDict[str, int] = OrderedDict()  # user -> first group/password ms
        self._privileged: OrderedDict[str, int] = OrderedDict()  # user -> first admin group ms
        self._people: OrderedDict[tuple[str, str], int] = OrderedDict()  # (acct, user) -> first ms
        self._net_users: OrderedDict[str, set[str]] = OrderedDict()  # network -> a few principals
        self._client_users: OrderedDict[str, set[str]] = OrderedDict()  # client -> a few of them
        self._person_sessions: OrderedDict[str, int] = OrderedDict()  # session arn -> opened ms
        self._roles: OrderedDict[tuple[str, str], _RoleUse] = OrderedDict()  # (account, name)
        self._no_mfa: OrderedDict[str, int] = OrderedDict()  # person signed in without MFA -> ms
        self._with_mfa: OrderedDict[str, int] = OrderedDict()  # person -> sign-ins with MFA
        # person -> (ms, with MFA) of its latest sign-in (one without MFA by a principal that
        # paged is not learned: signed_in_without_mfa)
        self._last_sign_in: OrderedDict[str, tuple[int, bool]] = OrderedDict()
        # principal -> its latest refused console sign-ins (event ms)
        self._failed_sign_ins: OrderedDict[str, deque[int]] = OrderedDict()
        self._flagged: OrderedDict[str, None] = OrderedDict()  # principals that paged
        self._compromised: OrderedDict[str, int] = OrderedDict()  # ... its credentials held
        # elsewhere, by a sign that paged: its latest event ms (detect.engine._names_holder)
        # principal -> {network a sign of it came from, new to it then: (marked ms, its latest
        # event ms there, when its latest return was said: holder_back)}
        self._holder_nets: OrderedDict[str, dict[str, tuple[int, int, int]]] = OrderedDict()
        self._newest_ms = 0
        self._clients_since_ms = 0  # the earliest event the client memory learned from
        self._nets_since_ms = 0  # the earliest event the network memory learned from

    # -- learning ------------------------------------------------------------------------------
    def observe(self, event: AuditEvent) -> None:
        """Learn from one event, after the detectors judged it (so it is not its own context)."""
        at_ms = event.event_time_ms
        if (
            event.source not in GLOBAL_SOURCES
            and event.action not in GLOBAL_ACTIONS
            and not event.error_code
            and not event.source_ip.endswith(".amazonaws.com")
        ):
            # a region is in use where the organisation's own calls succeed: not where AWS
            # Config or Control Tower describe every governed region, nor where someone's
            # refused calls land (review: 240 Config reads made ap-northeast-3 "in use")
            self._regions[event.region] = self._regions.get(event.region, 0) + 1
        if not _DIRECTORY_USER.match(event.principal_key):  # (asked once for both)
            self._remember_net(event)
            self._remember_client(event)
        # the accounts, the watched account and the identity as remember_account,
        # remember_watched and remember_identity keep them, without their calls (every event)
        account = event.account
        if account:
            _earliest(self._accounts, account, at_ms, MAX_ACCOUNTS)
        own = account_of(event.principal)
        if own and own != account:  # (the caller's account, but for cross-account calls
            _earliest(self._accounts, own, at_ms, MAX_ACCOUNTS)  # the event's own)
        if account:
            _earliest(self._watched, account, at_ms, MAX_ACCOUNTS)
        _earliest(self._identities, identity_of(event.principal_key), at_ms, MAX_NETS)
        if event.error_code:
            return
        if event.action_class == "destructive" and event.resources:
            lasting = self.lasting(event)
            if lasting:
                self._remember_destroyed(lasting, event.event_time_ms)
            elif self._temporary(event):
                self._count_temporary_delete(event)
        if event.action in _ONBOARDING:
            params = field(record_of(event), "requestParameters")
            user = str(field(params, "userName") or "")
            if user and privileged_group(str(field(params, "groupName") or "")):
                _earliest(self._privileged, user, event.event_time_ms, MAX_ACCOUNTS)
            elif user and user not in self._onboarded:
                self._onboarded[user] = event.event_time_ms
                if len(self._onboarded) > MAX_ACCOUNTS:
                    self._onboarded.popitem(last=False)
        if event.action in NETWORK_DELETES:
            self._network_deleted.pop(event.principal_key, None)
            self._network_deleted[event.principal_key] = event.event_time_ms
            if len(self._network_deleted) > MAX_RUNS:
                self._network_deleted.popitem(last=False)
        if event.action == "AssumeRole" and event.actor_kind == "human":
            self._remember_person_session(event)
        if event.actor_kind == "human" and ":user/" in event.principal:
            person = (event.account, event.principal.rpartition("/")[2])
            if person not in self._people:
                self._people[person] = event.event_time_ms
                if len(self._people) > MAX_ACCOUNTS:
                    self._people.popitem(last=False)
        self._remember_role_use(event)
        if event.action == "ConsoleLogin":
            record = record_of(event)
            mfa = str(field(field(record, "additionalEventData"), "MFAUsed") or "")
            result = str(field(field(record, "responseElements"), "ConsoleLogin") or "")
            with_mfa = mfa.lower() != "no"
            if result == "Success" and (with_mfa or event.principal_key not in self._flagged):
                last = _recent(
                    self._last_sign_in, event.principal_key, lambda: (0, True), MAX_ACCOUNTS
                )
                if event.event_time_ms >= last[0]:
                    self._last_sign_in[event.principal_key] = (event.event_time_ms, with_mfa)
            if not with_mfa and result == "Success":
                _recent(
                    self._no_mfa, event.principal_key, lambda: event.event_time_ms, MAX_ACCOUNTS
                )
            elif mfa.lower() == "yes" and result == "Success":
                count = _recent(self._with_mfa, event.principal_key, int, MAX_ACCOUNTS)
                self._with_mfa[event.principal_key] = count + 1
            elif result == "Failure":
                failures = _recent(self._failed_sign_ins, event.principal_key, deque, MAX_ACCOUNTS)
                failures.append(event.event_time_ms)
                while len(failures) > FAILED_SIGN_INS_KEPT:
                    failures.popleft()
        if event.action in _ACCOUNT_CARRIERS:
            # who assumes roles here, and whom trust and sharing name: the accounts we deal with
            self.learn_accounts(event.raw, event.event_time_ms)
        if event.action in _POLICY_WRITES:
            self._remember_admin_policy(event)
        if event.action in _PROFILE_ROLES:
            self._remember_profile(event)
        if event.action in _TEMPLATE_WRITES:
            self._remember_template(event)
        if _creates(event.action):
            params = field(record_of(event), "requestParameters")
            if event.action == "CreateUser" and event.source == "iam.amazonaws.com":
                self._remember_user_made(str(field(params, "userName") or ""), event)
            elif event.action == "CreateRole" and event.source == "iam.amazonaws.com":
                self._remember_role_made(params, event)
            names = _made(event, params)
            if event.action == "CreateChangeSet" and field(params, "changeSetType") == "CREATE":
                # a change set of type CREATE makes its stack too; one to an existing stack
                # (UPDATE, CloudFormation's default) makes the change set only (fresh seed 1046:
                # a deploy's change set made prod-atlas "young", and the deletion of its log
                # group looked like clean-up)
                names.add(resource_name(str(field(params, "stackName") or "")))
            for name in names:
                # a lasting resource deleted and made again (a production environment
                # "deleted and recreated") is the same lasting resource, not a young one
                if name and name not in self._births and name not in self._destroyed:
                    self._births[name] = (event.event_time_ms, event.principal_key)
                    if len(self._births) > MAX_BIRTHS:
                        self._births.popitem(last=False)
        if event.action in _STACK_OPS:
            stack = _stack_name(event)
            self._stack_ops.append(
                StackOp(
                    event.event_time_ms,
                    event.account,
                    event.principal_key,
                    event.actor_kind,
                    event.action,
                    stack,
                )
            )
        if at_ms > self._newest_ms:
            self._newest_ms = at_ms
        # pruned by the newest time seen anywhere, with room for partitions that run behind
        while self._stack_ops and self._stack_ops[0].at_ms < self._newest_ms - STACK_OP_KEEP_MS:
            self._stack_ops.popleft()

    def _remember_net(self, event: AuditEvent) -> None:
        """The event's network has its principal among its users (observe has ruled out a
        directory user: _DIRECTORY_USER)."""
        net = net_of(event.source_ip)
        if net:
            if not self._nets_since_ms or event.event_time_ms < self._nets_since_ms:
                self._nets_since_ms = event.event_time_ms
            self._add_user(self._net_users, net, event.principal_key)

    def _add_user(self, table: OrderedDict[str, set[str]], value: str, key: str) -> None:
        """Remember `key` among the few principals seen using `value` (a network, a client):
        enough that SHARED_NET_USERS of them vouch. Those that vouch are some of its users, so
        a value with no more than SHARED_NET_USERS takes a new one without listing them (done
        on every event, that listing was up to 3% of the detector's CPU on world 1178's
        replay). `_recent`, written out: twice an event, a value and a user mostly known."""
        users = table.get(value)
        if users is None:
            users = table[value] = set()
            if len(table) > MAX_NETS:
                table.popitem(last=False)
        else:
            table.move_to_end(value)
            if key in users:
                return
        if len(users) > SHARED_NET_USERS:
            # len(self._vouching(users)) <= SHARED_NET_USERS, counted only as far as it decides
            flagged = self._flagged
            vouching = 0
            for user in users:
                if user not in flagged:
                    vouching += 1
                    if vouching > SHARED_NET_USERS:
                        return
        users.add(key)

    def _used_by_others(self, table: OrderedDict[str, set[str]], value: str, key: str) -> bool:
        """A principal other than `key`, one that never paged, was seen using `value`."""
        return any(u != key for u in self._vouching(table.get(value, set())))

    def mark_flagged(self, principal_key: str) -> None:
        """A principal paged: the networks it works from no longer vouch for anyone else (an
        attacker's exit used against two identities is not the office), and its latest sign-in
        without MFA -- perhaps the one that paged -- makes no habit (signed_in_without_mfa)."""
        last = self._last_sign_in.get(principal_key)
        if last is not None and not last[1]:
            del self._last_sign_in[principal_key]
        self._flagged.pop(principal_key, None)
        self._flagged[principal_key] = None
        if len(self._flagged) > MAX_RUNS:
            self._flagged.popitem(last=False)

    def mark_compromised(self, principal_key: str, at_ms: int) -> None:
        """A sign that someone else holds the principal's credentials paged at event time
        `at_ms` (detect.engine._names_holder)."""
        last = _recent(self._compromised, principal_key, lambda: at_ms, MAX_RUNS)
        self._compromised[principal_key] = max(last, at_ms)

    def mark_holder_net(self, principal_key: str, net: str, at_ms: int) -> None:
        """A sign that someone else holds the credentials came from `net`, a network new to
        the principal in the hours before it (detect.engine.DetectionEngine._holder_net),
        at event time `at_ms`: watched for COMPROMISE_MEMORY_MS, or until resolved (vouch)."""
        nets = _recent(self._holder_nets, principal_key, dict, MAX_RUNS)
        _, latest, said = nets.get(net, (at_ms, at_ms, at_ms))
        nets[net] = (at_ms, max(latest, at_ms), max(said, at_ms))
        while len(nets) > MAX_HOLDER_NETS:
            del nets[min(nets, key=lambda n: nets[n][0])]

    def holder_back(self, principal_key: str, ip: str, at_ms: int) -> int:
        """An event of the principal from the network (of `ip`) its credentials' holder used:
        how long (ms) the holder was away from there -- 0 while the visit goes on, within
        HOLDER_SAID_MS of the last return said, or when it is not a holder's network (any
        more). Each event from it is the holder's latest."""
        nets = self._holder_nets.get(principal_key)
        if not nets:
            return 0
        net = net_of(ip)
        entry = nets.get(net)
        if entry is None:
            return 0
        marked, latest, said = entry
        if at_ms - marked > COMPROMISE_MEMORY_MS:
            del nets[net]
            return 0
        away = at_ms - latest
        back = away > 0 and at_ms - said >= HOLDER_SAID_MS
        nets[net] = (marked, max(latest, at_ms), at_ms if back else said)
        return away if back else 0

    def vouch(self, principal_key: str) -> None:
        """An analyst resolved the principal's alert: its earlier signs are not a compromise."""
        self._compromised.pop(principal_key, None)
        self._holder_nets.pop(principal_key, None)

    def compromised(self, principal_key: str, at_ms: int) -> bool:
        """Whether a sign that someone else holds its credentials paged on the principal within
        COMPROMISE_MEMORY_MS before `at_ms`."""
        paged = self._compromised.get(principal_key)
        return paged is not None and 0 <= at_ms - paged <= COMPROMISE_MEMORY_MS

    def _remember_client(self, event: AuditEvent) -> None:
        """The event's client product has its principal among its users (observe has ruled out
        a directory user: the portal step of a person's sign-in vouches for nothing, review)."""
        client = client_of(event.user_agent)
        if not client:
            return
        if not self._clients_since_ms or event.event_time_ms < self._clients_since_ms:
            self._clients_since_ms = event.event_time_ms
        self._add_user(self._client_users, client, event.principal_key)

    def _vouching(self, users: set[str]) -> list[str]:
        return [u for u in users if u not in self._flagged]

    def _remember_person_session(self, event: AuditEvent) -> None:
        params = field(record_of(event), "requestParameters")
        role_arn = str(field(params, "roleArn") or "")
        session = str(field(params, "roleSessionName") or "")
        role = role_of(role_arn) if ":role/" in role_arn else None
        if not (session and role):
            return
        account, name = role
        arn = f"arn:{role_arn.split(':')[1]}:sts::{account}:assumed-role/{name}/{session}"
        self._person_sessions.pop(arn, None)
        self._person_sessions[arn] = event.event_time_ms
        if len(self._person_sessions) > MAX_RUNS:
            self._person_sessions.popitem(last=False)

    def _remember_role_use(self, event: AuditEvent) -> None:
        """Who a role is: a service's (AWS assumed it for Lambda, EC2, ECS...), or an identity
        with a life of its own -- a person's, an AI agent's, one that changes permissions, or
        the role CloudFormation deploys with."""
        ip = event.source_ip
        service = ip.removesuffix(".amazonaws.com") if ip.endswith(".amazonaws.com") else ""
        if event.action.startswith("AssumeRole"):
            record = record_of(event)
            role = role_of(str(field(field(record, "requestParameters"), "roleArn") or ""))
            if service:
                if role:
                    use = self._role_use(role)
                    use.services.add(service)
                    session = field(field(record, "requestParameters"), "roleSessionName")
                    named = (
                        service == "lambda"
                        and isinstance(session, str)
                        and not _LAMBDA_POLLER.match(session)
                    )
                    if named and len(use.functions) <= DEDICATED_FUNCTIONS:
                        use.functions.add(str(session))
                return
            if event.action == "AssumeRoleWithWebIdentity" and role:
                self._role_use(role).capacities.add(WEB_IDENTITY)
                return
            # a vendor's integration or another of the organisation's accounts signs in to
            # it: its permissions are that account's way in (CloudTrail logs the assumption
            # in the role's account, with the caller's account in userIdentity)
            caller = str(field(field(record, "userIdentity"), "accountId") or "")
            if role and caller and caller != role[0]:
                use = self._role_use(role)
                use.capacities.add(OUTSIDE_SIGN_IN)
                if len(use.outside) < MAX_OUTSIDE_ACCOUNTS:
                    use.outside.add(caller)
        role = role_of(event.principal)
        if not role:
            return
        if service:  # a service acting with the role (CloudFormation deploying, say)
            self._role_use(role).services.add(service)
        if ip == _DELEGATING:
            capacity = "the role CloudFormation deploys with"
        elif event.actor_kind == "human":
            capacity = "a person's role"
        elif event.actor_kind == "agent":
            capacity = "an AI agent's role"
        elif event.action_class == "privilege" and event.action not in OWN_CREDENTIAL_ACTIONS:
            capacity = "a role that changes permissions"
        else:
            return
        use = self._role_use(role)
        if len(use.capacities) < len(_CAPACITIES):
            use.capacities.add(capacity)

    def _role_use(self, role: tuple[str, str]) -> _RoleUse:
        return _recent(self._roles, role, _RoleUse, MAX_ROLES)

    def identity_role(self, role: tuple[str, str], service: str) -> str:
        """What makes handing `role` to new `service` compute (a Lambda function, an instance,
        a task) borrowing another identity's permissions: the role acts in the organisation as
        a person, an AI agent, a permission changer or CloudFormation's deployment role -- or
        AWS ran only other services' code with it (a Lambda function's role given to a new
        instance: another workload's permissions on a host the caller controls) -- and AWS
        never assumed it for `service`. "" when it is that service's role or Leash has not seen
        it act."""
        use = self._roles.get(role)
        if use is None or service in use.services:
            return ""
        if use.capacities:
            return next(c for c in _CAPACITIES if c in use.capacities)
        if use.services:
            return f"the role AWS runs {' and '.join(sorted(use.services))} code with"
        return ""

    def runs_for(self, role: tuple[str, str], service: str) -> bool:
        """AWS assumed `role` to run `service` compute (an instance's or a function's own)."""
        use = self._roles.get(role)
        return use is not None and service in use.services

    def function_role(self, role: tuple[str, str], function: str) -> str:
        """Whose permissions a new Lambda function named `function` handed `role` runs with:
        "" unless Lambda ran the role for at most DEDICATED_FUNCTIONS other functions (their
        own role, not a shared execution role), never for this one, and this one is no variant
        of them (`stream-proc-v2` with `stream-proc`'s role is a developer's next version)."""
        use = self._roles.get(role)
        if use is None or not use.functions or len(use.functions) > DEDICATED_FUNCTIONS:
            return ""
        if any(own in function or function in own for own in use.functions):
            return ""
        return f"the role function {' and '.join(sorted(use.functions))} runs with"

    def signed_in_from_outside(self, account: str, role_name: str) -> bool:
        """Another account signs in to this role (a vendor's integration): a way in from
        outside that the organisation already keeps."""
        use = self._roles.get((account, role_name))
        return use is not None and OUTSIDE_SIGN_IN in use.capacities

    def outside_accounts(self, account: str, role_name: str) -> frozenset[str]:
        """The other accounts seen signing in to this role (a vendor's, or the organisation's
        own other accounts)."""
        use = self._roles.get((account, role_name))
        return frozenset(use.outside) if use is not None else frozenset()

    def signs_in_without_mfa(self, principal_key: str, before_ms: int) -> bool:
        """NO_MFA_NORM_USERS other people signed in to the console without MFA before: here
        that is the organisation's habit (a posture finding), not a sign of a stolen password."""
        others = 0
        for key, at in self._no_mfa.items():
            others += key != principal_key and at < before_ms
            if others >= NO_MFA_NORM_USERS:
                return True
        return False

    def always_mfa(self, principal_key: str, before_ms: int) -> bool:
        """The person signed in to the console MFA_HABIT times or more, every time with MFA:
        one sign-in without it is the password alone, used by someone without their device
        (or the device taken off the account first)."""
        no_mfa = self._no_mfa.get(principal_key)
        return (no_mfa is None or no_mfa >= before_ms) and self._with_mfa.get(
            principal_key, 0
        ) >= MFA_HABIT

    def failed_sign_ins(self, principal_key: str, at_ms: int, window_ms: int) -> int:
        """Refused console sign-ins of the principal in the `window_ms` before `at_ms` (counted
        up to FAILED_SIGN_INS_KEPT)."""
        failures = self._failed_sign_ins.get(principal_key, ())
        return sum(1 for ms in failures if 0 <= at_ms - ms <= window_ms)

    def signed_in_without_mfa(
        self, principal_key: str, before_ms: int, trained: Collection[str] = ()
    ) -> bool:
        """This person's latest console sign-in before `before_ms` was without MFA: theirs has
        no MFA device, and one more such sign-in says nothing new (where it comes from still
        may). The latest, not any: a sign-in without MFA on the first day, before the device
        was set up, or an intruder's, says nothing once the person signed in with MFA since --
        and one by a principal that paged is not learned (review). `trained`: the person's
        "signin" seen value from the trained history (its latest sign-in's,
        detect.anomaly.history), which still knows after a restart emptied this memory."""
        last = self._last_sign_in.get(principal_key)
        if last is not None and last[0] < before_ms:
            return not last[1]
        return "no-mfa" in trained

    def signed_in_before(
        self, principal_key: str, before_ms: int, trained: Collection[str] = ()
    ) -> bool:
        """The person signed in to the console before `before_ms`: a sign-in this memory saw, or
        one in the trained history (its "signin" seen value: `trained`)."""
        last = self._last_sign_in.get(principal_key)
        return (last is not None and last[0] < before_ms) or bool(trained)

    def network_nobody_uses(self, net: str, at_ms: int, min_age_ms: int) -> bool:
        """No principal of the organisation, none that paged, was seen working from this
        network -- the one asking included -- by a network memory that has learned for
        `min_age_ms` (after a restart or a hand-over every network is one nobody used)."""
        if not net or self.networks_known_ms(at_ms) < min_age_ms:
            return False
        return not self._vouching(self._net_users.get(net, set()))

    def opened_by_person(self, principal: str) -> bool:
        """A role session a person opened (AssumeRole by a human: a break-glass or admin role
        chained from an SSO session): whatever its name says, a person is behind it."""
        return principal in self._person_sessions

    def shared_network(self, net: str, principal_key: str) -> bool:
        """Other principals of the organisation work from this network (an office, the VPN): new
        for this principal is not new for its organisation. Principals that paged do not count:
        seed 764's IAM user signed in from the Tor exit another incident's stolen SSO session had
        used, and the sign-in was held as "where colleagues work"."""
        users = self._vouching(self._net_users.get(net, set()))
        return len([u for u in users if u != principal_key]) >= SHARED_NET_USERS

    def network_of_others(self, net: str, principal_key: str) -> bool:
        """Another principal of the organisation, one that never paged, was seen working from
        this network."""
        return self._used_by_others(self._net_users, net, principal_key)

    def networks_known_ms(self, at_ms: int) -> int:
        """How long (event time) the network memory has learned before `at_ms`: 0 when it is
        empty (a fresh start or a restart: every network is nobody else's then)."""
        since = self._nets_since_ms
        return max(at_ms - since, 0) if since else 0

    def client_nobody_uses(self, client: str, event: AuditEvent) -> bool:
        """No other principal of the organisation, none that paged, was seen calling through
        this client product (client_of), once this memory has learned for ACCOUNT_YOUNG_MS and
        Leash has watched the account past its first days (young_account): on an install's
        first days, and after a restart or a partition hand-over emptied this memory -- a
        model marks the accounts old at once, so the memory's own age decides (review) --
        every client is one nobody was seen using. An AWS service calling for the person
        (Athena, the console: its name is the user agent) is no client of theirs."""
        if not client or client == "aws" or client.endswith(".amazonaws.com"):
            return False
        since = self._clients_since_ms
        if not since or event.event_time_ms - since < ACCOUNT_YOUNG_MS:
            return False
        if self.young_account(event.account, event.event_time_ms):
            return False
        return not self._used_by_others(self._client_users, client, event.principal_key)

    def _remember_destroyed(self, names: list[str], at_ms: int) -> None:
        for name in names:
            self._destroyed.pop(name, None)
            self._destroyed[name] = at_ms
        while len(self._destroyed) > MAX_BIRTHS:
            self._destroyed.popitem(last=False)

    def _temporary(self, event: AuditEvent) -> bool:
        """The delete removed a resource that is temporary by its name or its age -- what makes
        a run a teardown. Not objects, items or networks (never lasting, whoever deletes them),
        and not a nameless id that is not lasting only because the run is a teardown already:
        a person who empties a dev bucket every day is not tearing down their instances for
        ever after (seed 983: 16 staging instances terminated over 80 minutes by an IAM user
        whose daily object clean-up had made his whole life one "run")."""
        if event.action in ITEM_DELETES or event.action in NETWORK_DELETES:
            return False
        if event.action == "DeleteObjects":
            return False  # a bucket's contents (`aws s3 rm --recursive`): its DeleteBucket counts
        if any(_EPHEMERAL.search(r) for r in event.resources):
            return True
        names = [n for r in event.resources if (n := resource_name(r)) not in ("", "*")]
        return bool(names) and all(self.young(n, event.event_time_ms) for n in names)

    def _count_temporary_delete(self, event: AuditEvent) -> None:
        """One more temporary delete in the principal's run; a run ends TEARDOWN_GAP_MS after
        its last one (an IAM user has no session to end it)."""
        count, last_ms = self._runs.pop(event.principal, (0, 0))
        if event.event_time_ms - last_ms > TEARDOWN_GAP_MS:
            count = 0
        self._runs[event.principal] = (count + 1, event.event_time_ms)
        if len(self._runs) > MAX_RUNS:
            self._runs.popitem(last=False)

    def _remember_user_made(self, user: str, event: AuditEvent) -> None:
        """An IAM user created: its latest creation is kept (a later one read out of order
        keeps its place), the least recently created forgotten past MAX_ACCOUNTS."""
        if not user:
            return
        key = f"{event.account}/{user}"
        made = self._users_made.pop(key, None)
        if made is None or made[0] <= event.event_time_ms:
            made = (event.event_time_ms, event.principal_key)
        self._users_made[key] = made
        _earliest(self._first_user_by, event.principal_key, event.event_time_ms, MAX_ACCOUNTS)
        if len(self._users_made) > MAX_ACCOUNTS:
            self._users_made.popitem(last=False)

    def learn_accounts(self, text: str, at_ms: int) -> None:
        """Remember the account ids a trust, share or role assumption mentions."""
        for account in _DIGIT_RUN.findall(text):
            if len(account) == _ACCOUNT_DIGITS:
                self.remember_account(account, at_ms)

    def remember_account(self, account: str, at_ms: int) -> None:
        """Leash saw `account` at `at_ms` (the earliest sighting is kept)."""
        _earliest(self._accounts, account, at_ms, MAX_ACCOUNTS)

    # -- questions -----------------------------------------------------------------------------
    def young(self, name: str, at_ms: int) -> bool:
        """A resource of this name was created within YOUNG_MS before `at_ms`: not lasting."""
        birth = self.born(name, at_ms)
        return birth is not None and at_ms - birth[0] < YOUNG_MS

    def born(self, name: str, before_ms: int) -> tuple[int, str] | None:
        """(creation time, creator key) of a resource created in the observed history before
        `before_ms` (a backlog read partition by partition may have seen a later creation)."""
        birth = self._births.get(name)
        return birth if birth is not None and birth[0] <= before_ms else None

    def user_born(self, account: str, user: str, before_ms: int) -> tuple[int, str] | None:
        """(creation time, creator key) of IAM user `user`'s latest creation before
        `before_ms`: a user created again (deleted in between; the name an attacker's backdoor
        used before) is a new user, whatever lasting resource once had its name (born)."""
        made = self._users_made.get(f"{account}/{user}")
        if made is not None and made[0] <= before_ms:
            return made
        return self.born(user, before_ms)

    def first_user_made_by(self, creator: str) -> int | None:
        """When `creator` made its first IAM user Leash saw (a user made again and again under
        one name counts from its first run: review)."""
        return self._first_user_by.get(creator)

    def role_born(self, account: str, role: str, before_ms: int) -> tuple[int, str, bool] | None:
        """(creation time, creator key, whether its trust names identities rather than only AWS
        services) of IAM role `role`'s latest creation in `account` before `before_ms`."""
        made = self._roles_made.get(f"{account}/{role}")
        return made if made is not None and made[0] <= before_ms else None

    def admin_policy_since(self, policy_arn: str) -> int | None:
        """Since when managed policy `policy_arn`'s default version allows everything (made so,
        or a version allowing everything set default); None when its default does not, or
        Leash never saw what its default allows."""
        return self._admin_policies.get(policy_arn)

    def admin_version(self, policy_arn: str, version_id: str) -> int | None:
        """When version `version_id` of `policy_arn` was made, if it allows everything (what
        SetDefaultPolicyVersion can make the policy again, or for the first time)."""
        made = self._policy_versions.get(policy_arn, {}).get(version_id)
        return made[1] if made is not None and made[0] else None

    def profile_role(self, account: str, profile: str) -> str | None:
        """The role in instance profile `profile` of `account`, if Leash saw it put there (an
        instance profile the console made is named as its role; one made by hand or by
        Terraform need not be)."""
        return self._profiles.get(f"{account}/{profile.lower()}")

    def template_types(self, account: str, template: str) -> list[str]:
        """The instance types the versions of launch template `template` (its id or name) in
        `account` name, as Leash saw them made ([] for a template it never saw made)."""
        return self._templates.get(f"{account}/{template}", [])

    def _remember_template(self, event: AuditEvent) -> None:
        """A launch template's (or its new version's) instance type, under its id and its
        name: fleets and launches name a template by either (traildiscover's record:
        `CreateLaunchTemplateRequest.LaunchTemplateData.InstanceType`, the id in the
        response)."""
        record = record_of(event)
        request = field(record, "requestParameters", f"{event.action}Request")
        kind = field(request, "LaunchTemplateData", "InstanceType")
        if not isinstance(kind, str) or not kind:
            return
        made = field(record, "responseElements", f"{event.action}Response")
        names = (
            field(request, "LaunchTemplateName"),
            field(request, "LaunchTemplateId"),
            field(made, "launchTemplate", "launchTemplateId"),
            field(made, "launchTemplate", "launchTemplateName"),
            field(made, "launchTemplateVersion", "launchTemplateId"),
            field(made, "launchTemplateVersion", "launchTemplateName"),
        )
        for name in {n for n in names if isinstance(n, str) and n}:
            kinds = _recent(self._templates, f"{event.account}/{name}", list, MAX_ACCOUNTS)
            if kind not in kinds and len(kinds) < MAX_TEMPLATE_TYPES:
                kinds.append(kind)

    def _remember_profile(self, event: AuditEvent) -> None:
        params = field(record_of(event), "requestParameters")
        profile, role = field(params, "instanceProfileName"), field(params, "roleName")
        if not isinstance(profile, str) or not isinstance(role, str) or not profile or not role:
            return
        key = f"{event.account}/{profile.lower()}"  # (IAM's names are unique without case)
        self._profiles.pop(key, None)
        if event.action == "AddRoleToInstanceProfile":
            self._profiles[key] = role
            if len(self._profiles) > MAX_ACCOUNTS:
                self._profiles.popitem(last=False)

    def _remember_role_made(self, params: object, event: AuditEvent) -> None:
        role = field(params, "roleName")
        if not isinstance(role, str) or not role:
            return
        trust = field(params, "assumeRolePolicyDocument")
        people = any(
            not isinstance(principal, Mapping) or bool({"AWS", "Federated"} & set(principal))
            for statement in statements(trust)
            if (principal := field(statement, "Principal")) is not None
        )
        key = f"{event.account}/{role}"
        self._roles_made.pop(key, None)
        self._roles_made[key] = (event.event_time_ms, event.principal_key, people)
        if len(self._roles_made) > MAX_ACCOUNTS:
            self._roles_made.popitem(last=False)

    def _remember_admin_policy(self, event: AuditEvent) -> None:
        """What managed policies' versions allow, and whether a policy's default version allows
        everything now: a policy created, or given a default version, that allows everything
        is; one given a narrower default, or a default whose text Leash never saw, or deleted,
        is not (review: a policy narrowed, or deleted and made again, kept "allows
        everything")."""
        record = record_of(event)
        params = field(record, "requestParameters")
        arn = field(params, "policyArn") or field(record, "responseElements", "policy", "arn")
        if not isinstance(arn, str) or not arn:
            return
        at, action = event.event_time_ms, event.action
        if action == "DeletePolicy":
            self._policy_versions.pop(arn, None)
            self._admin_policies.pop(arn, None)
            return
        version = str(field(params, "versionId") or "")
        if action == "DeletePolicyVersion":  # (IAM refuses to delete the default version)
            self._policy_versions.get(arn, {}).pop(version, None)
            return
        if action == "SetDefaultPolicyVersion":
            default = self.admin_version(arn, version) is not None
        else:
            default = action == "CreatePolicy" or is_true(field(params, "setAsDefault"))
            made = field(record, "responseElements", "policyVersion", "versionId") or field(
                record, "responseElements", "policy", "defaultVersionId"
            )
            allows = grants_everything(field(params, "policyDocument"))
            if action == "CreatePolicy":
                self._policy_versions.pop(arn, None)  # (a policy made again under its name)
            versions = _recent(self._policy_versions, arn, dict, MAX_ACCOUNTS)
            if isinstance(made, str) and made:
                versions[made] = (allows, at)
                while len(versions) > MAX_POLICY_VERSIONS:
                    versions.pop(next(iter(versions)))
            if not default:
                return
            default = allows
        if default:
            _earliest(self._admin_policies, arn, at, MAX_ACCOUNTS)
        else:
            self._admin_policies.pop(arn, None)

    def lasting(self, event: AuditEvent) -> list[str]:
        """The resources of `event` that are lasting: not named as temporary (the whole ARN or
        path: an object in a dev bucket is temporary), not created within YOUNG_MS before it
        (deleting those is clean-up, not destruction), and not a nameless id deleted by a run
        that is tearing down temporary resources."""
        if event.action == "DeleteObjects":
            return self._contents(event)
        if any(_EPHEMERAL.search(resource) for resource in event.resources):
            return []  # the bucket, stack or path says temporary: all of the call is
        if event.action in ITEM_DELETES or event.action in NETWORK_DELETES:
            # objects, items, messages: data in a resource; networks: empty containers (their
            # contents go first). Their volume still counts (destructive_10m).
            return []
        teardown = self._in_teardown(event)
        kept = []
        for resource in event.resources:
            name = resource_name(resource)
            if name in ("", "*") or name in kept or (teardown and _OPAQUE_ID.match(name)):
                continue  # ("*": a log group's ARN ends ":*")
            if self.young(name, event.event_time_ms):
                continue
            if event.action in LOG_GROUP_DELETES and self._gone(name, event.event_time_ms):
                continue  # the logs of a function or service deleted within the day: clean-up
            kept.append(name)
        return kept

    def _gone(self, name: str, at_ms: int) -> bool:
        """A lasting resource of this name was deleted within YOUNG_MS before `at_ms`."""
        deleted = self._destroyed.get(name)
        return deleted is not None and 0 <= at_ms - deleted <= YOUNG_MS

    def _contents(self, event: AuditEvent) -> list[str]:
        """A DeleteObjects call's lasting damage: the bucket's contents ("bucket/*", one name
        however many batches: detect.anomaly.destruction counts up to three per 10 minutes
        and one per 6 hours), unless
        the bucket is temporary (named so, or created within YOUNG_MS) or every key the call
        names is (tmp/...). CloudTrail logs no keys (`"delete": ""`), so the bucket decides;
        a request that does name keys (another log source) is not made temporary by one tmp/
        key among its exports."""
        params = field(record_of(event), "requestParameters")
        bucket = field(params, "bucketName")
        if not isinstance(bucket, str) or not bucket or _EPHEMERAL.search(bucket):
            return []
        objects = field(field(params, "delete"), "objects")
        keys = [str(field(o, "key") or "") for o in objects] if isinstance(objects, list) else []
        if keys and all(_EPHEMERAL.search(key) for key in keys):
            return []
        return [] if self.young(bucket, event.event_time_ms) else [f"{bucket}/*"]

    def _in_teardown(self, event: AuditEvent) -> bool:
        count, last_ms = self._runs.get(event.principal, (0, 0))
        return count >= TEARDOWN_DELETES and event.event_time_ms - last_ms <= TEARDOWN_GAP_MS

    def active_person(self, account: str, user: str, before_ms: int) -> bool:
        """The IAM user `user` of `account` acted as a person (its own console sign-ins and
        calls) before `before_ms`: a colleague, not a service user or a user being set up."""
        first = self._people.get((account, user))
        return first is not None and first < before_ms

    def onboarded(self, user: str, before_ms: int) -> bool:
        """The user was put in a group or given a console password (a new hire, not a key-only
        account) before `before_ms`."""
        at = self._onboarded.get(user)
        return at is not None and at <= before_ms

    def privileged_member(self, user: str, before_ms: int) -> bool:
        """The user was put in an administrators' group (privileged_group) before `before_ms`."""
        at = self._privileged.get(user)
        return at is not None and at <= before_ms

    def deleted_network(self, principal_key: str, at_ms: int, within_ms: int) -> bool:
        """The principal deleted a VPC, subnet or other network within `within_ms` before."""
        last = self._network_deleted.get(principal_key)
        return last is not None and 0 <= at_ms - last <= within_ms

    def young_account(self, account: str, at_ms: int) -> bool:
        """Leash has watched this account for less than ACCOUNT_YOUNG_MS before `at_ms` (or
        never saw it): its first days, when every person is a stranger only because nobody was
        watching. An install that began on a weekend counts from the Monday (fresh seeds 1018,
        1020, 1024: installs begun on a Saturday paged Monday's first sign-ins without MFA and
        a vendor's trust set up that morning -- two days old, but the workforce had not arrived
        yet). A weekend later in the first days counts: the workforce was met before it."""
        first = self._accounts.get(account)
        return first is None or at_ms - working_start(first) < ACCOUNT_YOUNG_MS

    def remember_watched(self, account: str, at_ms: int) -> None:
        """An event of `account`'s own at `at_ms` (the earliest is kept)."""
        _earliest(self._watched, account, at_ms, MAX_ACCOUNTS)

    def remember_identity(self, principal_key: str, at_ms: int) -> None:
        """The principal (its identity: detect.features.actor.identity_of) acted at `at_ms`."""
        _earliest(self._identities, identity_of(principal_key), at_ms, MAX_NETS)

    def known_for_ms(self, principal_key: str, at_ms: int) -> int:
        """How long before `at_ms` the principal's identity (identity_of) first
        acted (0: never)."""
        return _since(self._identities, identity_of(principal_key), at_ms)

    def watched_ms(self, account: str, at_ms: int) -> int:
        """How long before `at_ms` Leash has read `account`'s own events (0: none yet) -- an
        account only named in another's trust policy or role assumption is not watched (a
        new account's first day would look like a week in: review)."""
        return _since(self._watched, account, at_ms)

    def known_account(self, account: str, before_ms: int) -> bool:
        first = self._accounts.get(account)
        return first is not None and first < before_ms

    def region_in_use(self, region: str) -> bool:
        return self._regions.get(region, 0) >= REGION_KNOWN_EVENTS

    def initiator(self, event: AuditEvent) -> StackOp | None:
        """For a call CloudFormation made under its role: the stack operation it acts on -- of
        the account's operations within STACK_OP_WINDOW_MS, the one whose stack the call's
        resource is named after (`prod-ledger-db` is prod-ledger's; the longest name wins),
        else the one the role's previous call was for if that came within STACK_RUN_GAP_MS (an
        instance id names no stack), else the latest. Operations overlap: a deploy's change set
        started while another stack was being deleted took that stack's deletions (fresh seed
        1541: an agent's DeleteStack of production became two alerts, the deploy role's one)."""
        if event.source_ip != _DELEGATING:
            return None
        at = event.event_time_ms
        fresh = [
            op
            for op in reversed(self._stack_ops)
            if op.account == event.account and at - STACK_OP_WINDOW_MS <= op.at_ms <= at
        ]
        if not fresh:
            return None
        named = [op for op in fresh if op.stack and _names_stack(event.resources, op.stack)]
        last = self._delegated.get(event.principal_key)
        if named:
            chosen = max(named, key=lambda op: len(op.stack))  # (the latest of equals: fresh)
        elif last is not None and 0 <= at - last[0] <= STACK_RUN_GAP_MS and last[1] in fresh:
            chosen = last[1]
        else:
            chosen = fresh[0]
        self._delegated[event.principal_key] = (at, chosen)
        self._delegated.move_to_end(event.principal_key)
        while len(self._delegated) > MAX_ACCOUNTS:
            self._delegated.popitem(last=False)
        return chosen


_STACK_ARN = re.compile(r":stack/([^/]+)/")


def _stack_name(event: AuditEvent) -> str:
    """The stack a stack operation acts on: its `stackName` (a name, or a stack ARN's name
    part) -- not a change set's name or id, which ExecuteChangeSet's first resource may be."""
    given = field(field(record_of(event), "requestParameters"), "stackName")
    text = given if isinstance(given, str) and given else ""
    text = text or (event.resources[0] if event.resources else "")
    arn = _STACK_ARN.search(text)
    return arn.group(1) if arn else resource_name(text)


def _names_stack(resources: Sequence[str], stack: str) -> bool:
    """A resource named after `stack`: the stack's name as a whole word of the resource's name
    (`prod-ledger` in `acme-prod-ledger-uploads`, not in `prod-ledgers`) -- its name, not an
    ARN's service or region, and not an id's prefix (a stack called `vpc` names no `vpc-0abc`:
    review)."""
    pattern = _stack_word(stack)
    for resource in resources:
        name = resource_name(resource)
        if name and not _OPAQUE_ID.match(name) and pattern.search(name):
            return True
    return False


@functools.lru_cache(maxsize=1024)
def _stack_word(stack: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(stack)}(?![A-Za-z0-9])")


def _earliest(memory: OrderedDict[str, int], key: str, at_ms: int, cap: int) -> None:
    """Keep the earliest time seen for `key`; past `cap` keys the least recently seen go.

    Called three times an event: a key already kept (nearly always) is only moved to the end,
    and rewritten when `at_ms` is earlier (a late event); it adds no key, so none goes."""
    first = memory.get(key)
    if first is None:
        memory[key] = at_ms
        while len(memory) > cap:
            memory.popitem(last=False)
        return
    if at_ms < first:
        memory[key] = at_ms
    memory.move_to_end(key)


def _since(memory: Mapping[str, int], key: str, at_ms: int) -> int:
    """How long before `at_ms` the earliest time kept for `key` is (0: none kept)."""
    first = memory.get(key)
    return 0 if first is None else max(at_ms - first, 0)


def working_start(first_ms: int) -> int:
    """When Leash began watching the workforce: `first_ms`, or -- for an install that began on
    a Saturday or a Sunday (UTC) -- the Monday after it."""
    weekday = (first_ms // DAY_MS + 3) % 7  # 1970-01-01 was a Thursday: +3 makes Monday 0
    return first_ms if weekday < 5 else (first_ms // DAY_MS + 7 - weekday) * DAY_MS


def delegated(event: AuditEvent) -> bool:
    """A call an AWS service made with a role's credentials on someone's behalf (CloudFormation
    creating or deleting a stack's resources): the act is the requester's, not the role's."""
    ip = event.source_ip
    return ip.endswith(".amazonaws.com") and event.actor_kind != "human"


def _recent(table: OrderedDict[_K, _V], key: _K, make: Callable[[], _V], limit: int) -> _V:
    """`table[key]`, created by `make` if missing, as the most recently used entry; the least
    recently used is forgotten past `limit` entries."""
    value = table.get(key)
    if value is None:
        value = table[key] = make()
        if len(table) > limit:
            table.popitem(last=False)
    else:
        table.move_to_end(key)
    return value


@functools.lru_cache(maxsize=8192)  # called for every event: principals repeat
def role_of(arn: str) -> tuple[str, str] | None:
    """(account, role name) of a role ARN or of one of its sessions' ARNs; None otherwise."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or not parts[4].isdigit():
        return None
    kind, _, rest = parts[5].partition("/")
    if kind == "assumed-role":
        name = rest.partition("/")[0]
    elif kind == "role":
        name = rest.rpartition("/")[2]
    else:
        return None
    return (parts[4], name) if name else None


@functools.lru_cache(maxsize=8192)  # called for every event: principals repeat
def account_of(principal: str) -> str:
    parts = principal.split(":")
    return parts[4] if len(parts) > 5 and parts[4].isdigit() else ""


@functools.lru_cache(maxsize=4096)  # asked for every event: actions repeat
def _creates(action: str) -> bool:
    """A call named like a creation (_CREATE) that does not only amend what exists (_AMENDS)."""
    return _CREATE.match(action) is not None and _AMENDS.search(action) is None


def _made(event: AuditEvent, params: object) -> set[str]:
    """The names a create call makes: those its parameters give for the thing it is named for
    (CreateLogStream's logStreamName, CreateDBInstance's dBInstanceIdentifier, CreateSecret's
    name, a copy's target) -- never a parameter naming something else: the function a URL,
    alias or event mapping is made for (fresh seed 1058: CreateFunctionUrlConfig made a
    staging function "young", and its deletion the next day looked like clean-up), the image
    and subnet of RunInstances, the user of CreateAccessKey or CreateLoginProfile, the snapshot
    of CreateVolume. A call whose parameters name nothing falls back to every resource it
    names, less what _MADE_IN says it makes something in."""
    action = base_action(event.action)
    noun = _singular(_NOUN_PREFIX.sub("", _NOUN_TAIL.sub("", action)))
    named, made = _named(noun, action, params, 0)
    if not named:
        made = {resource_name(r) for r in event.resources}
    return made - _made_in(event.action, params) - {""}


def _named(noun: str, action: str, params: object, depth: int) -> tuple[bool, set[str]]:
    """(whether `params` name anything, the names they give for `noun`), looking inside a
    request wrapper or an *Input structure."""
    named = False
    made: set[str] = set()
    for key, value in params.items() if isinstance(params, Mapping) else ():
        if isinstance(value, Mapping) and depth < 2 and _WRAPPER.search(key):
            inner_named, inner = _named(noun, action, value, depth + 1)
            named, made = named or inner_named, made | inner
            continue
        stem = "object" if key == "key" else _id_stem(key)  # S3 names objects "key"
        if stem is None:
            named = named or _names_any(value, depth + 1)
            continue  # not an identifier (a description, a size, a flag, a list of items)
        values = value if isinstance(value, list) else [value]
        values = [v for v in values if isinstance(v, str) and v]
        if not values:
            continue
        named = True
        target = _TARGET.sub("", stem)  # a copy's target names the copy itself, exactly (review:
        # an Auto Scaling group's targetGroupARNs are not the group it makes)
        if (
            noun.endswith(_singular(stem)) if target == stem else noun == _singular(target)
        ) or _MADE_BY.get(action) == key:
            made |= {resource_name(v) for v in values}
    return named, made


def _names_any(params: object, depth: int) -> bool:
    """Whether a nested structure names any resource (an identifier key with a string value):
    RunInstances' instancesSet, SSM CreateAssociationBatch's entries -- such a call names what
    it uses, so nothing falls back to being born by it (review)."""
    if depth > 4:
        return False
    if isinstance(params, list):
        return any(_names_any(item, depth + 1) for item in params[:32])
    if not isinstance(params, Mapping):
        return False
    for key, value in params.items():
        identifier = _id_stem(key) is not None
        if (identifier and isinstance(value, str) and value) or _names_any(value, depth + 1):
            return True
    return False


def _id_stem(key: str) -> str | None:
    """A parameter key's stem when it names a resource (dBInstanceIdentifier -> dBInstance,
    name -> ""), None when it names none (a size, a flag, the key it encrypts with)."""
    stem = _ID_KEY.sub("", key)
    return None if stem == key or key.lower() in _NOT_RESOURCES else stem


def _singular(word: str) -> str:
    word = word.lower()
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def _made_in(action: str, params: object) -> set[str]:
    """The names a create call's parameters give as what it makes something in or from
    (_MADE_IN): not born by it."""
    keys = _MADE_IN.get(action, ())
    return {resource_name(str(field(params, key) or "")) for key in keys} - {""}
