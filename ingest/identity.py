"""Stable principal keys and actor kinds from CloudTrail identities (configurable matchers)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ingest.settings import IdentitySettings

__all__ = ["IdentityRules", "arn_account", "build_identity_rules"]

_ASSUMED = re.compile(r"^arn:(aws[\w-]*):sts::(\d*):assumed-role/([^/]+)/(.+)$")
_ROLE = re.compile(r"^arn:(aws[\w-]*):iam::(\d*):role/(?:.*/)?([^/]+)$")
_IAM_ACCOUNT = re.compile(r"^arn:aws[\w-]*:(?:sts|iam)::(\d{12}):")


def arn_account(arn: str) -> str:
    """The 12-digit account of an IAM or STS ARN ("" for anything else)."""
    match = _IAM_ACCOUNT.match(arn)
    return match.group(1) if match else ""


_SSO_ROLE = re.compile(r"^AWSReservedSSO_")
_USER = re.compile(r"^arn:aws[\w-]*:iam::\d*:(user|root)\b")
# a session a person names: a user name, not a workload's (function, job, runner, task...)
_PERSON_SESSION = re.compile(
    r"^(?!.*(?i:session|lambda|function|job|task|runner|worker|service|svc|bot|sync|deploy|"
    r"pipeline|build|cron|batch|ingest|export|import|etl|webhook|handler|processor|"
    # CI and infrastructure tools name their sessions after themselves (GitHub Actions' OIDC
    # login: GitHubActions): the same session from a browser is the role's keys in a person's
    # hands, not a person's own session
    r"github|gitlab|actions|jenkins|circleci|buildkite|terraform|atlantis|spacelift|pulumi))"
    r"[A-Za-z][A-Za-z'._-]{1,40}$"
)


@dataclass(frozen=True)
class IdentityRules:
    """Compiled identity matchers; `principal_key` and `actor_kind` are pure and cached."""

    per_run: tuple[re.Pattern[str], ...]
    service_agent: tuple[re.Pattern[str], ...]
    agent_session: tuple[re.Pattern[str], ...]
    agent_role: tuple[re.Pattern[str], ...]
    agent_user_agent: tuple[re.Pattern[str], ...]
    human_user_agent: tuple[re.Pattern[str], ...]
    service_user_agent: tuple[re.Pattern[str], ...]
    # the caches below key on the rules: hashing ~30 patterns on every lookup cost ~2.4 µs
    # an event (two lookups), so the hash is taken once
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        patterns = (
            self.per_run,
            self.service_agent,
            self.agent_session,
            self.agent_role,
            self.agent_user_agent,
            self.human_user_agent,
            self.service_user_agent,
        )
        object.__setattr__(self, "_hash", hash(patterns))

    def __hash__(self) -> int:
        return self._hash

    def is_per_run(self, session_name: str) -> bool:
        return any(p.search(session_name) for p in self.per_run)

    def person_client(self, user_agent: str) -> bool:
        """Whether the client is one people use (the console, the aws CLI, a browser): what
        `human_user_agent_patterns` names."""
        return _any(self.human_user_agent, user_agent)

    def principal_key(self, principal: str) -> str:
        """Stable identity: role + session where the session is stable, the role alone if per-run.

        Accepts either form (and an IAM role ARN) so API callers may pass what they have.
        """
        return _principal_key(self, principal)

    def actor_kind(self, identity: Mapping[str, Any], user_agent: str, explicit_agent: bool) -> str:
        """agent | human | service; cached, since identities and user agents repeat heavily."""
        if explicit_agent:
            return "agent"
        attributes = _attributes(identity)
        return _actor_kind(
            self,
            str(identity.get("type") or ""),
            str(identity.get("arn") or ""),
            str(attributes.get("mfaAuthenticated") or "").lower() == "true",
            user_agent,
        )

    def _classify(self, id_type: str, arn: str, mfa: bool, user_agent: str) -> str:
        if _any(self.service_agent, user_agent):
            return "service"  # the SSM, ECS or CloudWatch agent: software on a host, not an AI
        if _any(self.agent_user_agent, user_agent):
            return "agent"
        if id_type in ("AWSService", "AWSAccount", "WebIdentityUser", "KubernetesServiceAccount"):
            return "service"
        assumed = _ASSUMED.match(arn)
        if assumed:
            return self._session_kind(assumed.group(3), assumed.group(4), mfa, user_agent)
        if id_type in ("IAMUser", "Root", "IdentityCenterUser", "SAMLUser") or _USER.match(arn):
            name = arn.rpartition("/")[2]
            return "agent" if name and _any(self.agent_role, name) else "human"
        return "service" if _any(self.service_user_agent, user_agent) else "human"

    def _session_kind(self, role: str, session: str, mfa: bool, user_agent: str) -> str:
        """An assumed-role session: an agent, a person (SSO, e-mail, MFA, a named session from
        a browser, the console or a CLI) or a workload (Lambda, ECS, EC2, CI, per-run ids)."""
        if _any(self.service_agent, role) or _any(self.service_agent, session):
            return "service"
        if _any(self.agent_session, session) or _any(self.agent_role, role):
            return "agent"
        if _SSO_ROLE.match(role) or "@" in session or mfa:
            return "human"
        if self.is_per_run(session):
            return "service"
        if _PERSON_SESSION.match(session) and _any(self.human_user_agent, user_agent):
            return "human"
        return "service"


def _any(patterns: tuple[re.Pattern[str], ...], text: str) -> bool:
    return any(p.search(text) for p in patterns)


def _attributes(identity: Mapping[str, Any]) -> Mapping[str, Any]:
    context = identity.get("sessionContext")
    if isinstance(context, Mapping):
        attributes = context.get("attributes")
        if isinstance(attributes, Mapping):
            return attributes
    return {}


@lru_cache(maxsize=65536)
def _actor_kind(rules: IdentityRules, id_type: str, arn: str, mfa: bool, user_agent: str) -> str:
    return rules._classify(id_type, arn, mfa, user_agent)


@lru_cache(maxsize=65536)
def _principal_key(rules: IdentityRules, principal: str) -> str:
    assumed = _ASSUMED.match(principal)
    if assumed:
        partition, account, role, session = assumed.groups()
        base = f"arn:{partition}:sts::{account}:assumed-role/{role}"
        return base if rules.is_per_run(session) else f"{base}/{session}"
    role_arn = _ROLE.match(principal)
    if role_arn:
        partition, account, role = role_arn.groups()
        return f"arn:{partition}:sts::{account}:assumed-role/{role}"
    return principal


def build_identity_rules(settings: IdentitySettings | None = None) -> IdentityRules:
    s = settings or IdentitySettings()

    def comp(patterns: list[str]) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(p) for p in patterns)

    return IdentityRules(
        per_run=comp(s.per_run_session_patterns),
        service_agent=comp(s.service_agent_patterns),
        agent_session=comp(s.agent_session_patterns),
        agent_role=comp(s.agent_role_patterns),
        agent_user_agent=comp(s.agent_user_agent_patterns),
        human_user_agent=comp(s.human_user_agent_patterns),
        service_user_agent=comp(s.service_user_agent_patterns),
    )
