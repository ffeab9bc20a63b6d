"""PeerGroups: the principals that do the same job, read from their names.

A principal whose own history is still short (PrincipalState.mature) says little about what is
unusual for it, so its anomaly findings only note (detect.context.triage). Its peers -- who
have the same job and a history -- can say more (Sentinel UEBA's peer groups): "more than any of
its peers ever does" is evidence for a new hire or a new pipeline role in an established
organisation. Peers are read from principal keys alone, as the stream shows them:

- the people of one IAM Identity Center permission set (the sessions of its
  `AWSReservedSSO_…` role);
- roles, and users, of one account whose names of three words or more differ in one word only,
  not the last one, once words that only say what kind of identity it is (role, task, sa…)
  are dropped from the end (`gha-billing-ci-agent` and `gha-search-ci-agent`): two words alike
  in names of two (`*-agent`, `prod-*-role`) say no more than that.

Not peers: the instances of one instance profile and the runs of one pipeline are one
principal already (their per-run sessions are keyed by the role, ingest.identity); another
role's stable session (`GitHubActions`) is grouped by its role's name. Bounded: MAX_MEMBERS
per group, MAX_GROUPS groups (the least recently joined forgotten first).
"""

from __future__ import annotations

import functools
import re
from collections import OrderedDict

__all__ = ["MIN_PEERS", "PEERS", "PeerGroups", "groups_of"]

MIN_PEERS = 2  # mature peers that learned a count before theirs says anything about another's
# a finding's explanation key: what a principal still being learned did against its mature
# peers that learned the check's count -- how many, the highest of the check's thresholds for
# them, and whether the value passed it (more than any of them ever does: it pages as a mature
# principal's would, triage._immature)
PEERS = "peers"
MAX_MEMBERS = 64  # principals remembered per group
MAX_GROUPS = 50_000
_SESSION = re.compile(r"^arn:aws[\w-]*:sts::(\d*):assumed-role/([^/]+)(?:/(.+))?$")
_NAMED = re.compile(r"^arn:aws[\w-]*:iam::(\d*):(role|user)/(?:.*/)?([^/]+)$")
_SSO = re.compile(r"^AWSReservedSSO_")
_ROLE_WORD = re.compile(r"[-_.]")
_USER_WORD = re.compile(r"[-_]")  # (a person's user name is `first.last`: no family of surnames)
MIN_WORDS = 3  # a name of two words keeps only its last when one may differ: `*-agent` is no job
# words that say what kind of identity a name is, not what it does (`prod-web-role`,
# `eks-orders-irsa-role`): dropped from a name's end before its words are compared (review:
# `prod-*-role` made a Terraform role and a read-only role peers)
_KIND_WORDS = frozenset(
    {
        "role", "roles", "task", "tasks", "instance", "instances", "profile", "exec",
        "execution", "sa", "svc", "service", "lambda", "function", "fn", "irsa", "iam",
        "user", "identity",
    }
)  # fmt: skip


@functools.lru_cache(maxsize=8192)
def groups_of(principal_key: str) -> tuple[str, ...]:
    """The peer groups of a principal key: an Identity Center permission set's people (the
    sessions of its role); else one per word of its role's or user's name that may differ --
    every word but the last, once the words that only say what kind of identity it is are
    dropped from its end, of names of MIN_WORDS words or more."""
    session = _SESSION.match(principal_key)
    if session:
        account, name, run = session.groups()
        if run and _SSO.match(name):
            return (f"{account}:sessions:{name}",)
        kind = "role"
    else:
        named = _NAMED.match(principal_key)
        if not named:
            return ()
        account, kind, name = named.groups()
    words = (_USER_WORD if kind == "user" else _ROLE_WORD).split(name.lower())
    while words and words[-1] in _KIND_WORDS:
        words.pop()
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
                    self._members.popitem(last=False)  # (the least recently joined)
            else:
                self._members.move_to_end(group)
            if principal_key not in members and len(members) < MAX_MEMBERS:
                members[principal_key] = None

    def peers(self, principal_key: str) -> list[str]:
        """The other members of the principal's groups, each once, in the order they came."""
        out: dict[str, None] = {}
        for group in groups_of(principal_key):
            out.update(self._members.get(group, {}))
        out.pop(principal_key, None)
        return list(out)
