"""PeerGroups: the principals that do the same job, read from their names.

A principal whose own history is still short (PrincipalState.mature) says little about what is
unusual for it, so its anomaly findings only note (detect.context.triage). Its peers -- who
have the same job and a history -- can say more (Sentinel UEBA's peer groups): "more than any of
its peers ever does" is evidence for a new hire, a new CI role, a new instance in an established
organisation. Peers are read from principal keys alone, as the stream shows them:

- the sessions of one role that keeps its session names (the people of one IAM Identity
  Center permission set, the instances of one instance profile);
- roles, and users, of one account whose names of three words or more differ in one word only,
  not the last one (`gha-billing-ci-agent` and `gha-search-ci-agent`; `prod-orders-task` and
  `staging-orders-task`): the last word names the job (task, instance, agent, deploy), and
  two words alike in names of two (`*-agent`) say no more than that.

Bounded: MAX_MEMBERS per group, MAX_GROUPS groups (the oldest forgotten first).
"""

from __future__ import annotations

import functools
import re
from collections import OrderedDict

__all__ = ["MIN_PEERS", "PEERS", "PeerGroups", "groups_of"]

MIN_PEERS = 2  # mature peers a principal needs before theirs says anything about its own
# a finding's explanation key: what a principal still being learned did against its mature
# peers -- how many, the highest of the check's thresholds for them, and whether the value passed
# it (more than any of them ever does: it pages as a mature principal's would, triage._immature)
PEERS = "peers"
MAX_MEMBERS = 64  # principals remembered per group
MAX_GROUPS = 50_000
_SESSION = re.compile(r"^arn:aws[\w-]*:sts::(\d*):assumed-role/([^/]+)(?:/(.+))?$")
_NAMED = re.compile(r"^arn:aws[\w-]*:iam::(\d*):(role|user)/(?:.*/)?([^/]+)$")
_ROLE_WORD = re.compile(r"[-_.]")
_USER_WORD = re.compile(r"[-_]")  # (a person's user name is `first.last`: no family of surnames)
MIN_WORDS = 3  # a name of two words keeps only its last when one may differ: `*-agent` is no job


@functools.lru_cache(maxsize=8192)
def groups_of(principal_key: str) -> tuple[str, ...]:
    """The peer groups of a principal key: its role's, for a session of a role that keeps its
    session names; else one per word of its role's or user's name that may differ (every word
    but the last, of names of MIN_WORDS words or more)."""
    session = _SESSION.match(principal_key)
    if session:
        account, name, run = session.groups()
        if run:
            return (f"{account}:sessions:{name}",)
        kind = "role"
    else:
        named = _NAMED.match(principal_key)
        if not named:
            return ()
        account, kind, name = named.groups()
    words = (_USER_WORD if kind == "user" else _ROLE_WORD).split(name.lower())
    if len(words) < MIN_WORDS or not all(words):
        return ()
    return tuple(
        f"{account}:{kind}:" + "-".join("*" if j == i else w for j, w in enumerate(words))
        for i in range(len(words) - 1)
    )


class PeerGroups:
    """Which principals share a peer group (groups_of) with which."""

    def __init__(self) -> None:
        self._members: OrderedDict[str, dict[str, None]] = OrderedDict()

    def add(self, principal_key: str) -> None:
        for group in groups_of(principal_key):
            members = self._members.get(group)
            if members is None:
                members = self._members[group] = {}
                if len(self._members) > MAX_GROUPS:
                    self._members.popitem(last=False)
            if principal_key not in members and len(members) < MAX_MEMBERS:
                members[principal_key] = None

    def peers(self, principal_key: str) -> list[str]:
        """The other members of the principal's groups, each once, in the order they came."""
        out: dict[str, None] = {}
        for group in groups_of(principal_key):
            out.update(self._members.get(group, {}))
        out.pop(principal_key, None)
        return list(out)
