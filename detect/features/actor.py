"""Who acts across sessions: an AI agent's role, a person's session, a job's dated sessions.

A role session with a stable name is its own principal (ingest.identity); these say which
principals are one actor for an incident (`actor_of`) and one identity the account has seen
before for a newcomer (`identity_of`).
"""

from __future__ import annotations

import functools
import re

from ingest.settings import IdentitySettings

__all__ = ["actor_of", "identity_of"]

_IDENTITY = IdentitySettings()
_AGENT_ROLE = tuple(re.compile(p) for p in _IDENTITY.agent_role_patterns)
_AGENT_SESSION = tuple(re.compile(p) for p in _IDENTITY.agent_session_patterns)
_SERVICE_AGENT = tuple(re.compile(p) for p in _IDENTITY.service_agent_patterns)
_SSO_ROLE = re.compile(r"^AWSReservedSSO_")
_ROLE_SESSION = re.compile(r"^(arn:[^:]+:sts::[^:]*:assumed-role/([^/]+))(?:/(.+))?$")
# a session name's run suffix: a token with a digit after a separator ("-42f5", ".20261105")
_RUN_SUFFIX = re.compile(r"[-_.](?=[0-9a-z]*[0-9])[0-9a-z]{1,12}$", re.IGNORECASE)


@functools.lru_cache(maxsize=8192)  # called for every finding: principals repeat
def actor_of(principal_key: str) -> str:
    """Who acts, across sessions: an AI agent's role (its name or its session's says so, by the
    identity settings' default patterns) for any of its sessions -- `data-agent`, then
    `data-agent-42f5`, then `agent-run-7f3a` (keyed by the role already) are one agent going
    on; by name, not by the per-event actor kind, which a user agent decides. Anyone else is
    their own principal key: two hosts, two workers, two people in one SSO role are two."""
    session = _ROLE_SESSION.match(principal_key)
    if not session:
        return principal_key
    role, name, run = session.groups()
    if (
        _SSO_ROLE.match(name)
        or "@" in (run or "")
        or any(p.search(name) or (run and p.search(run)) for p in _SERVICE_AGENT)
    ):
        return principal_key  # people (an SSO permission set named "SupportAgent") and hosts'
        # software agents (ssm-agent) are never one actor across sessions
    if any(p.search(name) for p in _AGENT_ROLE) or (
        run and any(p.search(run) for p in _AGENT_SESSION)
    ):
        return role
    return principal_key


@functools.lru_cache(maxsize=8192)  # called for every event: principals repeat
def identity_of(principal_key: str) -> str:
    """Whom the account has seen before, for newcomers: the actor (actor_of), and a session's
    name without its run suffix -- a job whose sessions are named by the date
    (`prune-2026-11-05`) is one identity, a person's e-mail session their own."""
    actor = actor_of(principal_key)
    session = _ROLE_SESSION.match(actor)
    if not session or not session.group(3):
        return actor
    name = session.group(3)
    for _ in range(4):
        stem = _RUN_SUFFIX.sub("", name)
        if stem == name or not stem:
            break
        name = stem
    return f"{session.group(1)}/{name}"
