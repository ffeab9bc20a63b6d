"""Identity red flags: admin grants, root use, keys and passwords for others, opened trust."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from detect.rules.base import Hit, Matcher, RedFlag
from detect.rules.record import allows, caller_names, field, has_star, public_statements, statements
from detect.rules.redflags.field import (
    action_name,
    always,
    as_text,
    is_true,
    outside_accounts,
    own_account,
    param,
    red_flag,
)

__all__ = ["IDENTITY", "privileged_group"]

# A group whose name says it holds the account's keys: membership grants administrator rights
# (a backdoor user joins "Admins" instead of getting AdministratorAccess attached). Judged by
# whole words, camelCase split (review: "chroot-builders", "CodeOwners", "HR-Administration"
# are not), and not when the name also says the group only reads ("ReadOnlyAdmins").
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_PRIVILEGED_WORDS = frozenset(
    {
        "admin",
        "admins",
        "administrator",
        "administrators",
        "poweruser",
        "powerusers",
        "superuser",
        "superusers",
        "root",
        "fullaccess",
        "breakglass",
        "privileged",
    }
)
_READING_WORDS = frozenset(
    {"read", "readonly", "reader", "readers", "viewer", "viewers", "audit", "auditors", "reviewers"}
)


def privileged_group(name: str) -> bool:
    """Whether an IAM group's name says its members administer the account."""
    words = [w.lower() for w in _WORD.findall(name)]
    words += [a + b for a, b in zip(words, words[1:], strict=False)]
    return not _PRIVILEGED_WORDS.isdisjoint(words) and _READING_WORDS.isdisjoint(words)


def _other_user(kind: str) -> Matcher:
    def match(record: Mapping[str, Any]) -> Hit | None:
        target = param(record, "userName")
        if not isinstance(target, str) or not target or target.casefold() in caller_names(record):
            return None
        if is_true(param(record, "passwordResetRequired")):
            return Hit(target, f"{kind} set for another user (reset required)", "low")
        return Hit(target, f"{kind} created for another user")

    return match


# Clients made for attacking AWS accounts: the penetration-testing distributions GuardDuty
# reports (PenTest:IAMUser/KaliLinux, ParrotLinux, PentooLinux: their kernels are in the SDK's
# user agent) and offensive frameworks that name themselves (Rhino Security's Pacu, S3Scanner).
# A red team uses them too: the finding says which client, so the exercise is recognised.
_OFFENSIVE_CLIENT = re.compile(r"(?i)-(kali|parrot|pentoo)\d*[-\w.]*|\bpacu\b|\bs3scanner\b")


# handing out credentials is logged under the identity provider or portal user, not the session
# that then calls with them: the red flag goes to the session's calls (one incident, not two)
_HANDOVERS = frozenset(
    {"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML", "GetRoleCredentials", "Federate"}
)


def _offensive_client(record: Mapping[str, Any]) -> Hit | None:
    if action_name(record) in _HANDOVERS:
        return None
    found = _offensive_name(as_text(field(record, "userAgent")))
    if found is None:
        return None
    return Hit("", f"called with an attack tool's client ({found})")


@functools.lru_cache(maxsize=4096)
def _offensive_name(agent: str) -> str | None:
    found = _OFFENSIVE_CLIENT.search(agent)
    return None if found is None else found.group(0).strip("-")


def _offensive_agent(user_agent: str) -> bool:
    """The gate of offensive_tool_client: the event's user agent (the record's, as text)."""
    return _offensive_name(user_agent) is not None


def _mentions_root(raw: str) -> bool:
    """The gate of root_activity: a record whose userIdentity.type is "Root" has that string in
    its JSON text (the normaliser writes it with orjson, which escapes no ASCII letter)."""
    return '"Root"' in raw


def _root(record: Mapping[str, Any]) -> Hit | None:
    identity = field(record, "userIdentity")
    if as_text(field(identity, "type")) != "Root":
        return None
    action = action_name(record)
    if (
        as_text(field(record, "eventType")) == "AwsServiceEvent"
        or field(identity, "invokedBy")
        or field(record, "readOnly") is True
        or action.startswith(("Get", "List", "Describe", "Head", "Lookup"))
        or action == "CreateServiceLinkedRole"  # AWS creates these when a console feature is used
    ):
        return None
    return Hit(as_text(field(identity, "arn")) or "root", "root account used")


def _login_without_mfa(record: Mapping[str, Any]) -> Hit | None:
    kind = as_text(field(record, "userIdentity", "type"))
    if kind not in ("IAMUser", "Root") or field(record, "additionalEventData", "SamlProviderArn"):
        return None  # federated, SAML and SSO sign-ins carry MFA at the identity provider
    if as_text(field(record, "additionalEventData", "MFAUsed")).casefold() != "no":
        return None
    if as_text(field(record, "responseElements", "ConsoleLogin")) != "Success":
        return None
    who = as_text(field(record, "userIdentity", "userName")) or kind
    return Hit(who, "console login without MFA", "high" if kind == "Root" else None)


def _admin_statement(statement: Mapping[str, Any]) -> bool:
    action = field(statement, "Action")
    wildcard = has_star(action) or "*:*" in (action if isinstance(action, list) else [action])
    return allows(statement) and wildcard and has_star(field(statement, "Resource"))


def _admin_policy(record: Mapping[str, Any]) -> Hit | None:
    action = action_name(record)
    keys = ("userName", "roleName", "groupName", "policyArn")
    target = next((as_text(v) for k in keys if (v := param(record, k))), "")
    if action.startswith("Attach"):
        if as_text(param(record, "policyArn")).endswith(":policy/AdministratorAccess"):
            return Hit(target, "AdministratorAccess attached")
        return None
    if action == "AddUserToGroup":
        group = as_text(param(record, "groupName"))
        return (
            Hit(target, f"added to the administrators' group {group}")
            if privileged_group(group)
            else None
        )
    if action == "CreatePolicyVersion" and not is_true(param(record, "setAsDefault")):
        return None
    if grants_everything(param(record, "policyDocument")):
        return Hit(target, "policy grants every action on every resource")
    return None


# Identity Center makes and keeps the AWSReservedSSO_ roles (their permissions come from the
# permission set, their trust from the SAML provider) under the path /aws-reserved/
# sso.amazonaws.com/, through its own service role, logged from sso.amazonaws.com; IAM refuses
# anyone else's change to them (UnmodifiableEntity, a failed call no rule fires on). So a
# change that succeeds from anyone else is to a role named like one outside that path -- a
# look-alike made to pass for a permission set's role, or edited to -- and creating one is
# the same disguise (fresh seed 1287: an admin's session attached AdministratorAccess to a
# role named as its own permission set's at 02:01, held as a break-glass drill).
_SSO_ROLE_CHANGES = (
    "CreateRole AttachRolePolicy PutRolePolicy UpdateAssumeRolePolicy "
    "PutRolePermissionsBoundary DeleteRolePermissionsBoundary"
)
_SSO_CALLER = re.compile(r"^sso\.amazonaws\.com$|:assumed-role/AWSServiceRoleForSSO/")
_SSO_PATH = "/aws-reserved/sso.amazonaws.com/"


def identity_center_role(name: str) -> bool:
    """Whether a role name is one Identity Center makes for a permission set (IAM compares
    role names without regard to case)."""
    return name[:15].casefold() == "awsreservedsso_"


def _sso_role_changed(record: Mapping[str, Any]) -> Hit | None:
    role = as_text(param(record, "roleName"))
    if not identity_center_role(role):
        return None
    callers = (
        as_text(field(record, "sourceIPAddress")),
        as_text(field(field(record, "userIdentity"), "invokedBy")),
        as_text(field(field(record, "userIdentity"), "arn")),
    )
    if any(_SSO_CALLER.search(caller) for caller in callers):
        return None
    action = action_name(record)
    if action == "CreateRole":
        if as_text(param(record, "path")).startswith(_SSO_PATH):
            return None  # (refused to anyone but Identity Center: a failed call)
        return Hit(role, "a role named as a permission set's made outside Identity Center")
    return Hit(role, f"{action} on a role named as a permission set's, not by Identity Center")


def grants_everything(document: Any) -> bool:
    """Whether a policy document (JSON text or parsed) allows every action on every resource
    -- IAM's own actions included: everything but IAM, denied beside it, is a power user's
    policy, which grants nobody their own permissions (review)."""
    found = statements(document)
    return any(_admin_statement(st) for st in found) and not any(_denies_iam(st) for st in found)


def _denies_iam(statement: Mapping[str, Any]) -> bool:
    """A Deny statement on every action, or on every IAM action (`iam:*`)."""
    if allows(statement):
        return False
    action = field(statement, "Action")
    names = action if isinstance(action, list) else [action]
    return any(isinstance(name, str) and name.casefold() in ("*", "iam:*") for name in names)


def _federation_admin(record: Mapping[str, Any]) -> Hit | None:
    """GetFederationToken with an inline policy allowing everything: a long-lived (up to 36 h),
    unrevocable-by-role console or API session minted from an IAM user's keys."""
    if not any(_admin_statement(st) for st in statements(param(record, "policy"))):
        return None
    return Hit(as_text(param(record, "name")), "federation token with every action allowed")


SECRETS_IN_ONE_READ = 10  # secrets a BatchGetSecretValue names before it is a sweep


def _secrets_batch(record: Mapping[str, Any]) -> Hit | None:
    """BatchGetSecretValue by filter reads every matching secret at once; by a long id list
    it is a sweep too."""
    if param(record, "filters"):
        return Hit("filters", "secrets read in bulk by filter", "high")
    ids = param(record, "secretIdList")
    if isinstance(ids, list) and len(ids) >= SECRETS_IN_ONE_READ:
        return Hit(as_text(ids[0]), f"{len(ids)} secrets read in one call")
    return None


def _role_trust(record: Mapping[str, Any]) -> Hit | None:
    document = param(record, "policyDocument") or param(record, "assumeRolePolicyDocument")
    role = as_text(param(record, "roleName"))
    if public_statements(document):
        return Hit(role, "role trust policy lets any AWS principal assume it", "critical")
    outside = outside_accounts(document, own_account(record))
    return Hit(role, "role trusts another account: " + ", ".join(outside)) if outside else None


IDENTITY: tuple[RedFlag, ...] = (
    red_flag(
        "offensive_tool_client",
        "high",
        about="a call made with a penetration-testing distribution or an attack framework",
        sources="",
        actions="",
        match=_offensive_client,
        denied="high",
        gate=("user_agent", _offensive_agent),
    ),
    red_flag(
        "root_activity",
        "high",
        about="root user performed a non-read action",
        sources="",
        actions="",
        match=_root,
        gate=("raw", _mentions_root),
    ),
    red_flag(
        "console_login_without_mfa",
        "medium",
        about="IAM or root console login without MFA",
        sources="signin",
        actions="ConsoleLogin",
        match=_login_without_mfa,
    ),
    red_flag(
        "admin_policy_attached",
        "high",
        about="administrator access granted to an identity",
        sources="iam",
        match=_admin_policy,
        actions=(
            "AttachUserPolicy AttachRolePolicy AttachGroupPolicy PutUserPolicy "
            "PutRolePolicy PutGroupPolicy CreatePolicyVersion AddUserToGroup"
        ),
    ),
    red_flag(
        "identity_center_role_changed",
        "critical",
        about="a role named as a permission set's (AWSReservedSSO_) made or changed, not by "
        "Identity Center",
        sources="iam",
        actions=_SSO_ROLE_CHANGES,
        match=_sso_role_changed,
    ),
    red_flag(
        "access_key_for_other_user",
        "medium",
        about="access key created for a different IAM user",
        sources="iam",
        actions="CreateAccessKey",
        match=_other_user("access key"),
    ),
    red_flag(
        "login_profile_for_other_user",
        "medium",
        about="console password set for another user",
        sources="iam",
        actions="CreateLoginProfile UpdateLoginProfile",
        match=_other_user("login profile"),
    ),
    red_flag(
        "roles_anywhere_trust_anchor",
        "medium",
        about=(
            "IAM Roles Anywhere trust anchor created: "
            "an outside certificate authority can obtain role credentials"
        ),
        sources="rolesanywhere",
        actions="CreateTrustAnchor",
        match=always("trust anchor created", "name"),
    ),
    red_flag(
        "federation_token_admin",
        "high",
        about="federation token minted with a policy that allows every action",
        sources="sts",
        actions="GetFederationToken",
        match=_federation_admin,
    ),
    red_flag(
        "secrets_bulk_read",
        "medium",
        about="many secrets read in one call",
        sources="secretsmanager",
        actions="BatchGetSecretValue",
        match=_secrets_batch,
    ),
    red_flag(
        "host_access",
        "medium",
        about="a shell or a password on a host (SSM session, EC2 Instance Connect key, "
        "Windows password data)",
        sources="ssm ec2-instance-connect ec2",
        actions="StartSession SendSSHPublicKey GetPasswordData",
        match=always("access to a host", "target", "instanceId"),
    ),
    red_flag(
        "role_trust_external",
        "high",
        about="role trust policy opened to another account or anyone",
        sources="iam",
        actions="UpdateAssumeRolePolicy CreateRole",
        match=_role_trust,
    ),
)
