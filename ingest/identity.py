"""Stable principal keys and actor kinds from CloudTrail identities (configurable matchers)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ingest.settings import IdentitySettings

__all__ = ["IdentityRules", "build_identity_rules"]

_ASSUMED = re.compile(r"^arn:(aws[\w-]*):sts::(\d*):assumed-role/([^/]+)/(.+)$")
_ROLE = re.compile(r"^arn:(aws[\w-]*):iam::(\d*):role/(?:.*/)?([^/]+)$")
_SSO_ROLE = re.compile(r"^AWSReservedSSO_")


@dataclass(frozen=True)
class IdentityRules:
    """Compiled identity matchers; `principal_key` and `actor_kind` are pure and cached."""

    per_run: tuple[re.Pattern[str], ...]
    agent_session: tuple[re.Pattern[str], ...]
    agent_role: tuple[re.Pattern[str], ...]
    agent_user_agent: tuple[re.Pattern[str], ...]
    service_user_agent: tuple[re.Pattern[str], ...]

    def is_per_run(self, session_name: str) -> bool:
        return any(p.search(session_name) for p in self.per_run)

    def principal_key(self, principal: str) -> str:
        """Stable identity: role + session where the session is stable, the role alone if per-run.

        Accepts either form (and an IAM role ARN) so API callers may pass what they have.
        """
        return _principal_key(self, principal)

    def actor_kind(self, identity: Mapping[str, Any], user_agent: str, explicit_agent: bool) -> str:
        """agent | human | service; cached, since identities and user agents repeat heavily."""
        if explicit_agent:
            return "agent"
        return _actor_kind(
            self,
            str(identity.get("type") or ""),
            str(identity.get("arn") or ""),
            bool(identity.get("invokedBy")),
            user_agent,
        )

    def _classify(self, id_type: str, arn: str, invoked_by: bool, user_agent: str) -> str:
        if any(p.search(user_agent) for p in self.agent_user_agent):
            return "agent"
        assumed = _ASSUMED.match(arn)
        if assumed:
            role, session = assumed.group(3), assumed.group(4)
            if any(p.search(session) for p in self.agent_session) or any(
                p.search(role) for p in self.agent_role
            ):
                return "agent"
            if _SSO_ROLE.match(role) or "@" in session:
                return "human"
            return "service" if self.is_per_run(session) else "human"
        if id_type in ("AWSService", "AWSAccount") or invoked_by:
            return "service"
        if any(p.search(user_agent) for p in self.service_user_agent):
            return "service"
        return "human"


@lru_cache(maxsize=65536)
def _actor_kind(
    rules: IdentityRules, id_type: str, arn: str, invoked_by: bool, user_agent: str
) -> str:
    return rules._classify(id_type, arn, invoked_by, user_agent)


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
        agent_session=comp(s.agent_session_patterns),
        agent_role=comp(s.agent_role_patterns),
        agent_user_agent=comp(s.agent_user_agent_patterns),
        service_user_agent=comp(s.service_user_agent_patterns),
    )
