"""Benign twins: the context in which a red-flag call is somebody's job, not an attack.

Each policy recognises a class of benign look-alike by what the organisation's own history
says about the call's target or counterpart -- never by a principal's name:

- the counterpart account is one the organisation already deals with;
- the target was created in the observed history (a temporary trail, a test user) or is named
  as temporary, so turning it off or deleting it is clean-up (a temporary name does not excuse
  opening it to the outside);
- the target region is one the organisation does not use;
- the keys or password are for a user the same principal created days ago (onboarding);
- a bucket named as a website is opened for reads only;
- the request only removes access;
- a log group keeps its logs for a week or more;
- a database modification changes only its size, version or maintenance windows;
- a workload whose days are spent reading users' keys rotates a service user's key.

A twin is held for corroboration (another detector on another event), not dropped: the same
call in a real incident usually comes with other signs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping

from detect.context.case import Case
from detect.context.org import (
    EPHEMERAL_NAME_RE,
    MAX_OUTSIDE_ACCOUNTS,
    OWN_CREDENTIAL_ACTIONS,
    OrgMemory,
)
from detect.features import resource_name
from detect.findings import ADMIN_GRANTS, UNUSED_REGION, YOUNG_TARGET
from detect.rules.record import field, record_of
from detect.rules.redflags.field import outside_accounts
from detect.rules.redflags.identity import identity_center_role, privileged_group

__all__ = [
    "EXPOSURE_RULES",
    "OPENING_RULES",
    "administers",
    "counterparts",
    "elevates_own_user",
    "self_target",
    "twin_policies",
]

# rules on data or access opened to the outside (the world, or another account)
EXPOSURE_RULES = frozenset(
    {
        "redflag:bucket_made_public",
        "redflag:resource_policy_public",
        "redflag:snapshot_shared",
        "redflag:ami_shared",
        "redflag:rds_made_public",
        "redflag:security_group_open_admin_port",
        "redflag:public_access_block_removed",
    }
)
# data or a role opened to the outside: a temporary name excuses none of them
OPENING_RULES = EXPOSURE_RULES | {"redflag:role_trust_external"}
BORN_RECENTLY_MS = 30 * 86_400_000  # a target created within this in the observed history
# ... but opened to the outside, only by the run that made it: a deploy creating a bucket and
# its policy, a role and its trust. A role the CI made last week, now made to trust an account
# nobody knows, is a backdoor in a role that looks like the pipeline's own (seed 843)
OPENED_AT_BIRTH_MS = 3_600_000
NEW_USER_MS = 7 * 86_400_000  # keys or a password for a user created within this
# keys for a user created this recently are a new identity's way in, not a rotation nor a service
# user's set-up (the rotation twin here, Triage._backdoor_keys)
BACKDOOR_KEYS_MS = 3_600_000
_ACCOUNT = re.compile(r"(?<!\d)(\d{12})(?!\d)")
_EPHEMERAL = re.compile(EPHEMERAL_NAME_RE)
_WEBSITE = re.compile(r"(?i)(^|[^a-z0-9])(www|static|assets|public|site|web|cdn|docs)([^a-z0-9]|$)")
ACCOUNT_ACTIONS = frozenset(
    {
        "UpdateAssumeRolePolicy",
        "CreateRole",
        "ModifySnapshotAttribute",
        "ModifyImageAttribute",
        "ModifyDBSnapshotAttribute",
        "ModifyDBClusterSnapshotAttribute",
        "PutBucketPolicy",
        "AddPermission",
        "PutKeyPolicy",
    }
)
REGION_ACTIONS = frozenset(
    {
        "DeleteDetector",
        "UpdateDetector",
        "StopConfigurationRecorder",
        "DeleteConfigurationRecorder",
        "DeleteDeliveryChannel",
        "DisableSecurityHub",
        "BatchDisableStandards",
        "DeleteAnalyzer",
        "DisableMacie",
    }
)
NEW_USER_ACTIONS = frozenset(
    {
        "CreateAccessKey",
        "CreateLoginProfile",
        "UpdateLoginProfile",
        "AddUserToGroup",
        "ConsoleLogin",
    }
)
PUBLIC_BUCKET_ACTIONS = frozenset({"PutBucketPolicy", "PutBucketAcl"})
NETWORK_LOG_ACTIONS = frozenset({"DeleteFlowLogs", "DeleteResolverQueryLogConfig"})
NETWORK_GONE_MS = 10 * 60_000  # flow logs removed this soon after their network was deleted
SELF_GRANT_ACTIONS = frozenset(
    {"AttachRolePolicy", "PutRolePolicy", "AttachUserPolicy", "PutUserPolicy", "AddUserToGroup"}
)
TRUST_ACTIONS = frozenset({"UpdateAssumeRolePolicy"})
INTEGRATION = "another account's integration role, on Leash's first days"
IDENTITY_KEYS = ("userName", "roleName", "groupName")
_IDENTITY_LOOKUPS = tuple((key, key.lower()) for key in IDENTITY_KEYS)  # (each differs)
RETENTION_KEPT_DAYS = 7  # a log retention of at least this many days is housekeeping
RETENTION_ACTIONS = frozenset({"PutRetentionPolicy"})
KEY_ACTIONS = frozenset({"CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"})
DATABASE_CHANGES = frozenset({"ModifyDBCluster", "ModifyDBInstance"})
# what a database modification may change and stay maintenance: its identity, size, version,
# storage and windows. Anything else -- a master password, public access, security groups,
# backups, deletion protection, a rename, log exports, monitoring and Performance Insights
# (turning them off hides the database: review), IAM authentication, a parameter or option
# group, a parameter this list does not know -- is judged by the rule as it is
MAINTENANCE_KEYS = frozenset(
    {
        "dBClusterIdentifier",
        "dBInstanceIdentifier",
        "applyImmediately",
        "engineVersion",
        "allowMajorVersionUpgrade",
        "autoMinorVersionUpgrade",
        "dBInstanceClass",
        "dBClusterInstanceClass",
        "allocatedStorage",
        "maxAllocatedStorage",
        "storageType",
        "iops",
        "storageThroughput",
        "preferredMaintenanceWindow",
        "preferredBackupWindow",
        "scalingConfiguration",
        "serverlessV2ScalingConfiguration",
        "caCertificateIdentifier",
    }
)
# findings that judge their own context: lasting destruction judges temporary targets itself
# (detect.anomaly.destruction); a function run minutes after it was handed another workload's
# role is young by design (detect.anomaly.behaviour judged the role), and so is a fleet of
# mining-sized machines launched from the template made minutes before (the region and the
# machines were judged: a template is no target the launch harms)
OWN_JUDGEMENT = frozenset(
    {
        "baseline:lasting_destruction",
        "baseline:slow_lasting_destruction",
        "baseline:borrowed_role_run",
        "baseline:compute_hijack",
    }
)
ADMIN_HISTORY_MS = 86_400_000  # permission work at least this long ago makes a person an admin

Check = Callable[[Case], bool]
Policy = Callable[[Case], str | None]


def twin_policies(org: OrgMemory) -> tuple[tuple[str, Policy], ...]:
    """(name, policy) pairs for Triage: each returns "hold" when its twin is recognised."""

    def held(actions: frozenset[str] | None, check: Check) -> Policy:
        def policy(case: Case) -> str | None:
            if case.finding.rule in OWN_JUDGEMENT:
                return None
            if actions is not None and case.event.action not in actions:
                return None
            return "hold" if check(case) else None

        policy.actions = actions  # type: ignore[attr-defined]  # (Triage skips other calls)
        policy.skip_rules = OWN_JUDGEMENT  # type: ignore[attr-defined]  # (... and these rules)
        return policy

    def traced(actions: frozenset[str], check: Check) -> Policy:
        # "trace" when `check` holds: each check below is False for any call not in `actions`
        def policy(case: Case) -> str | None:
            return "trace" if check(case) else None

        policy.actions = actions  # type: ignore[attr-defined]  # (Triage skips other calls)
        return policy

    def known(case: Case) -> bool:
        return _known_accounts(org, case)

    def young(case: Case) -> bool:
        # admin for an identity made moments ago is the backdoor itself, not set-up or clean-up;
        # keys and passwords for a new user are judged by the onboarding twin alone
        backdoor = case.finding.rule in ADMIN_GRANTS or case.event.action in NEW_USER_ACTIONS
        # a temporary name excuses tearing a target down, not opening it to the outside (a dev
        # copy of the data is still the data); a target the caller just made still does
        opening = case.finding.rule in OPENING_RULES
        young_ms = OPENED_AT_BIRTH_MS if opening else BORN_RECENTLY_MS
        return not backdoor and _young_target(org, case, by_name=not opening, within_ms=young_ms)

    def unused(case: Case) -> bool:
        return not org.region_in_use(case.event.region)

    def self_grant(case: Case) -> bool:
        # a break-glass drill: a person elevating a role kept for it (one they rarely assume:
        # its own history is young), or a role that a person's session opened whatever its
        # name, or a person whose job is permissions elevating their own role or user. An AI
        # agent or a workload elevating itself is the attack, and so is a person who never
        # administered permissions granting admin to the identity they work with every day --
        # their IAM user (seed 735) or their everyday SSO role (seed 764: a developer's
        # DeveloperAccess role attaching AdministratorAccess to itself, from curl). Break-glass
        # access is a role or a user kept for it: a person's everyday IAM user (one Leash has
        # watched work for days) granted admin by itself is not a drill even for an admin
        # (seed 794: an admin's own user, from the CLI, with nothing else to corroborate)
        if case.finding.explanation.get("after_denial"):
            return False  # the detector saw the refusal it answers: creep, not a drill (733)
        if identity_center_role(str(field(_params(case), "roleName") or "")):
            return False  # break-glass is for when the directory is down: never its own roles
        kind, principal = case.finding.actor_kind, case.event.principal
        kept_for_it = ":assumed-role/" in principal and not case.state.mature
        drill = (
            kind == "human" and not elevates_own_user(case) and (kept_for_it or administers(case))
        ) or (kind == "service" and org.opened_by_person(principal))
        return drill and self_target(case)

    def integration(case: Case) -> bool:
        # on Leash's first days every person is a stranger: one editing the trust of a role
        # another account already signs in to (a vendor's integration taking the vendor's new
        # account) waits for a second sign (seeds 799, 802). Later, a person's edit that keeps
        # trusting every account seen signing in and adds another extends the integration
        # (the vendor's second account: seeds 891, 894) and waits too; one that takes the
        # integration's account out redirects the role and pages, as does an inside role made
        # to trust an outside account (a backdoored role). Else the counterpart accounts
        # decide (known ones are the twin above; strangers' page: triage)
        event = case.event
        if case.finding.actor_kind != "human":
            return False
        role = str(field(_params(case), "roleName") or "")
        if org.young_account(event.account, event.event_time_ms):
            # ... or whose every outside account is trusted under an external id, a vendor's
            # integration as vendors set it up: on the install's first hours the vendor may
            # not have signed in yet (seeds 884, 902, 930, 954, 962, 964)
            return org.signed_in_from_outside(event.account, role) or (
                bool(_trusted_accounts(case))
                and not _trusted_accounts(case, without_external_id=True)
            )
        outside = org.outside_accounts(event.account, role)
        if not outside or len(outside) >= MAX_OUTSIDE_ACCOUNTS:
            return False  # (a full memory may have missed the account the edit drops)
        return outside <= _trusted_accounts(case)

    def gone(case: Case) -> bool:
        event = case.event
        return org.deleted_network(event.principal_key, event.event_time_ms, NETWORK_GONE_MS)

    def new_user(case: Case) -> bool:
        return case.finding.actor_kind == "human" and _new_user(org, case)

    def rotation(case: Case) -> bool:
        # a key-rotation job: a workload that has read users' keys for days (its routine),
        # now writing one for a user that is not a person at work (a service user) and that
        # existed before the hour -- a rotator rotates the keys of users that are there; keys
        # for a user made minutes ago are a new identity's way in (held-out 1268: a key
        # rotator's session created `admin-backup` and its key 11 s apart)
        state, event = case.state, case.event
        user = field(_params(case), "userName")
        if not (
            case.finding.actor_kind == "service"
            and state.mature
            and "ListAccessKeys" in state.seen.get("action", ())
            and isinstance(user, str)
            and not org.active_person(event.account, user, event.event_time_ms)
        ):
            return False
        birth = org.user_born(event.account, user, event.event_time_ms)
        return birth is None or event.event_time_ms - birth[0] >= BACKDOOR_KEYS_MS

    return (
        ("its own credentials", traced(OWN_CREDENTIAL_ACTIONS, _own_credentials)),
        ("logs kept for a week or more", traced(RETENTION_ACTIONS, _keeps_logs)),
        ("a database resized, upgraded or rescheduled", held(DATABASE_CHANGES, _maintenance)),
        ("a grant to itself, not after a denial", held(SELF_GRANT_ACTIONS, self_grant)),
        ("a counterpart account the organisation already deals with", held(ACCOUNT_ACTIONS, known)),
        (INTEGRATION, held(TRUST_ACTIONS, integration)),
        (YOUNG_TARGET, held(None, young)),
        (UNUSED_REGION, held(REGION_ACTIONS, unused)),
        ("a user a person just created (onboarding)", held(NEW_USER_ACTIONS, new_user)),
        ("a key-rotation job rotating a service user's key", held(KEY_ACTIONS, rotation)),
        ("a website bucket opened for reads", held(PUBLIC_BUCKET_ACTIONS, _website)),
        ("the request only removes access", held(None, _only_removes)),
        ("the logs of a network the caller just deleted", held(NETWORK_LOG_ACTIONS, gone)),
    )


def _params(case: Case) -> object:
    return field(record_of(case.event), "requestParameters")


def counterparts(case: Case) -> set[str]:
    """The account ids the request names besides the caller's own."""
    return set(_ACCOUNT.findall(str(_params(case)))) - {case.event.account}


def _trusted_accounts(case: Case, *, without_external_id: bool = False) -> set[str]:
    """The other accounts an edited trust policy lets assume the role: its Allow statements' AWS
    principals only (an id named in a Deny, a condition or an external id grants nothing) --
    only those not under an sts:ExternalId condition, if `without_external_id`."""
    document = field(_params(case), "policyDocument")
    accounts = outside_accounts(
        document, case.event.account, without_external_id=without_external_id
    )
    return set(accounts)


def _known_accounts(org: OrgMemory, case: Case) -> bool:
    """Every account id in the request is one the organisation already deals with."""
    found = counterparts(case)
    return bool(found) and all(org.known_account(a, case.event.event_time_ms) for a in found)


def _own_credentials(case: Case) -> bool:
    """A person managing their own keys, password or MFA (rotation) is hygiene, not an attack."""
    event = case.event
    if event.action not in OWN_CREDENTIAL_ACTIONS or ":user/" not in event.principal:
        return False
    params = _params(case)
    user = field(params, "userName") if isinstance(params, Mapping) else None
    return not user or str(user) == event.principal.rpartition("/")[2]


def _maintenance(case: Case) -> bool:
    """A generic rule on any change to a database (Sigma's "Modification or Deletion of an AWS
    RDS Cluster" fires on every `ModifyDBCluster`: Panther's fixture is an engine upgrade) for
    a change that touches no access, data or protection (MAINTENANCE_KEYS). The red flags on
    these calls judge their own parameters (public access: `redflag:rds_made_public`)."""
    params = _params(case)
    return (
        case.finding.rule.startswith("sigma:")
        and isinstance(params, Mapping)
        and bool(params)
        and set(params) <= MAINTENANCE_KEYS
    )


def _keeps_logs(case: Case) -> bool:
    """A retention policy of a week or more on a log group is housekeeping (Terraform and the
    console set one on every log group they make); an intruder ageing out its tracks shortens
    retention to a day or two."""
    if case.event.action not in RETENTION_ACTIONS:
        return False
    days = field(_params(case), "retentionInDays")
    return (
        isinstance(days, int | float | str)
        and str(days).isdigit()
        and (int(days) >= RETENTION_KEPT_DAYS)
    )


def administers(case: Case) -> bool:
    """The person did permission work (beyond their own keys, password and MFA) a day or more
    before this call: granting admin may be their job. Today's first steps (a role created
    minutes before admin is attached to it) do not count."""
    before = case.event.event_time_ms - ADMIN_HISTORY_MS
    return any(
        since <= before
        for action, since in case.state.privilege_since.items()
        if action not in OWN_CREDENTIAL_ACTIONS and action != case.event.action
    )


def elevates_own_user(case: Case) -> bool:
    """A person's everyday IAM user (Leash has watched it work for days) granting itself a
    permission: not break-glass access (a role, or a user kept for it and rarely used) but the
    identity they work with made stronger by itself, whoever they are."""
    return (
        ":user/" in case.event.principal
        and case.state.mature
        and case.finding.actor_kind == "human"
        and self_target(case)
    )


def self_target(case: Case) -> bool:
    """A permission granted to the caller's own role or user (a break-glass role elevating
    itself). After a denial it is privilege creep: detect.anomaly.behaviour pages that."""
    event = case.event
    params = _params(case)
    if not isinstance(params, Mapping):
        return False
    caller = event.principal.split("/")
    if ":assumed-role/" in event.principal and len(caller) >= 2:
        return str(field(params, "roleName") or "") == caller[1]
    return ":user/" in event.principal and str(field(params, "userName") or "") == caller[-1]


def _targets(case: Case) -> tuple[str, ...]:
    """The users, roles or groups an IAM request names; for other calls, the resources.

    A function of the event alone, asked once per finding: the last event's answer is kept
    (an event raises one to three findings, each judged in turn)."""
    global _last_targets  # noqa: PLW0603 - a one-entry memo
    event = case.event
    if _last_targets is not None and _last_targets[0] is event:
        return _last_targets[1]
    params = _params(case)
    named: list[str] = []
    if type(params) is dict:  # (parsed JSON) field's own two reads, without its call each
        for key, lower in _IDENTITY_LOOKUPS:
            value = params.get(key)
            if value is None:
                value = params.get(lower)
            if value:
                named.append(str(value))
    elif isinstance(params, Mapping):
        for key in IDENTITY_KEYS:
            value = field(params, key)
            if value:
                named.append(str(value))
    if not named:  # (a managed policy attached to the identities named is not a target)
        for resource in event.resources:
            if resource_name(resource):
                named.append(resource)
    found = tuple(named)
    _last_targets = (event, found)
    return found


# (event, its targets): holds the event, so an `is` match cannot be a new event at its address
_last_targets: tuple[object, tuple[str, ...]] | None = None


def _young_target(
    org: OrgMemory, case: Case, *, by_name: bool = True, within_ms: int = BORN_RECENTLY_MS
) -> bool:
    """Every target is named as temporary (when `by_name`), or the caller itself created it
    lately (a target someone else just created is no excuse: new code pushed into a function
    CloudFormation just recreated is still new code in production)."""
    event = case.event
    names = _targets(case)
    if not names:
        return False
    for resource in names:
        if by_name and _ephemeral(resource):
            continue
        birth = org.born(resource_name(resource), event.event_time_ms)
        if birth is None or event.event_time_ms - birth[0] >= within_ms:
            return False
        if birth[1] != event.principal_key:
            return False
    return True


@functools.lru_cache(maxsize=16_384)
def _ephemeral(resource: str) -> bool:
    return _EPHEMERAL.search(resource) is not None


def _new_user(org: OrgMemory, case: Case) -> bool:
    """Keys or a password set for (or a console sign-in by) a user created days ago by the same
    principal -- or, for the sign-in, by anyone: a new hire's first days, while the user has
    no history of its own yet. Keys count only for a user who was onboarded (put in a group,
    or given a console password)."""
    event = case.event
    params = _params(case)
    user = str(field(params, "userName") or "") if isinstance(params, Mapping) else ""
    if event.action == "ConsoleLogin":
        if case.state.mature:
            # the user already has days of its own: networks it never used mean what they mean
            # for anyone (seed 772: a user created five days before, signed in from its usual
            # networks daily, then without MFA from abroad, reading secrets)
            return False
        user = event.principal.rpartition("/")[2]
    birth = org.user_born(event.account, user, event.event_time_ms) if user else None
    if birth is None or event.event_time_ms - birth[0] > NEW_USER_MS:
        return False
    if org.privileged_member(user, event.event_time_ms) or (
        event.action == "AddUserToGroup" and privileged_group(str(field(params, "groupName") or ""))
    ):
        return False  # a new user made an administrator: the backdoor, not a new hire (review)
    if event.action == "CreateAccessKey" and not org.onboarded(user, event.event_time_ms):
        return False  # keys for a user nobody put in a group or gave a sign-in: a backdoor
    return event.action == "ConsoleLogin" or birth[1] == event.principal_key


def _website(case: Case) -> bool:
    """A bucket named as a website opened for reads only (s3:GetObject), nothing else."""
    params = _params(case)
    bucket = str(field(params, "bucketName") or "") if isinstance(params, Mapping) else ""
    if not _WEBSITE.search(bucket):
        return False
    text = str(params)
    actions = set(re.findall(r"s3:[A-Za-z*]+", text))
    return bool(actions) and actions <= {"s3:GetObject"}


def _only_removes(case: Case) -> bool:
    """Sharing or access taken away (`remove`, `valuesToRemove`), none added."""
    raw = case.event.raw
    if "emove" not in raw and "\\" not in raw:
        return False  # (neither word, nor an escape that could spell one, in the whole record)
    params = _params(case)
    if not isinstance(params, Mapping):
        return False
    text = str(params)
    removes = "'remove'" in text or "valuesToRemove" in text
    adds = "'add'" in text or "valuesToAdd" in text
    return removes and not adds
