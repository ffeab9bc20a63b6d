"""BehaviourDetector: a principal judged against itself -- credential sweeps (secretreads),
denied bursts (refusals), roles handed to new compute (handover), first access grants, hijacked
regions, self-grants, console sign-ins, and the context notes (a new network or client for a
principal that rarely sees one).

Each compares the principal with itself: a sweep is many distinct secrets in 10 minutes against
its own days (an app reading its three secrets at start-up is not a sweep); a burst of denied
calls against its own denials; an access grant (new code on a function, a shell on a host, a
key pushed to an instance, a password read) is judged by whether the principal ever did it.
Novelty is judged against the principal's own novelty: a CI role sees a new runner IP on every
job, so a new IP means nothing for it; for a person who works from two networks it is context.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from detect.anomaly.collection import Collection
from detect.anomaly.habit import MAX_VALUES, WINDOW_MS, Seen, in_console_session, make_finding
from detect.anomaly.handover import INVOKE_ACTIONS, PASSED_ROLES, Handover
from detect.anomaly.refusals import Refusals
from detect.anomaly.secretreads import (
    SecretReads,
    plain_parameter_names,
    remember_plain,
    secret_names,
)
from detect.anomaly.slowreads import SlowReads
from detect.anomaly.storesurge import NOWHERE_MEMORY_MS, NOWHERE_NEW_MS, StoreSurge
from detect.anomaly.tally import TallyBook
from detect.context.org import OrgMemory
from detect.features import GRANT_ACTIONS, PROD_RESOURCE_RE, PrincipalState, net_of, source_of
from detect.findings import (
    ADMIN_POLICY_RULE,
    CONSOLE_ONLY,
    FROM_ELSEWHERE,
    HOLDER_BACK_RULE,
    KNOWN_NET,
    NEWS,
    ON_CONSOLE_NET,
    ON_FRESH_NET,
    ON_NOTED_NET,
    Finding,
    frozen_record,
)
from detect.rules.record import field as lookup
from detect.rules.record import outcome_of, record_of
from ingest.events import AuditEvent
from ingest.identity import build_identity_rules

__all__ = ["ELSEWHERE_RULE", "BehaviourDetector", "Novelty"]

HOST_ACCESS = GRANT_ACTIONS - {"UpdateFunctionCode", "UpdateFunctionCode20150331v2"}
# Stolen credentials list what the account holds before they take it (MITRE's discovery):
# IAM users and policies, the account summary, parameters, functions. A person calling this
# many listing calls they never made before, within minutes, is held for a second sign (a
# sweep, a decrypt burst, a new network: seed 854's stolen key listed five it never had).
# Only people: an AI agent exploring an account and a pipeline planning new resources list
# what is new to them as their work.
DISCOVERY = re.compile(r"^(List|Describe|GetAccount|GetCallerIdentity$)")
DISCOVERY_NEW = 5  # distinct never-made listing calls in 10 min
# ... by a workload, from a network new to it that it rarely sees one of (a context note): a
# workload repeats one set of calls, and its credentials taking stock of the account from
# elsewhere list identities and stores it never listed (fresh seed 1202: an ECS task's session
# from outside AWS listed roles, users, its caller identity and the buckets, then decrypted
# with 7 keys in 10 s; its calls stayed under its decrypt bar and the new network only noted)
WORKLOAD_DISCOVERY_NEW = 3
# ... the network noted new to it this long: a first call from it that lists nothing starts no
# shorter watch (review: a routine call 11 minutes before the listings hid them)
NEW_NET_KEEP_MS = 3_600_000
# a workload called through a person's client (the aws CLI's role profiles name their sessions
# per run: a team's role, keyed as a workload) lists as a person does: their floor (review)
# ... by a person, from a network AND through a client both new to them (a person who rarely
# sees either: a context note) where nobody in the organisation works: their keys in someone
# else's hands listing what the account holds pages at this many never-made listing calls --
# not counting GetCallerIdentity, every new CLI's first call (fresh seed 1286: an IAM user
# who works from the console, his key through curl from a network nobody used, listed the
# secrets and dumped IAM's authorization details, then decrypted 21 times in a minute -- two
# never-made listings, under the five that wait, and decrypts under his own high)
PERSON_ELSEWHERE_DISCOVERY_NEW = 2
# ... by a person, within WINDOW_MS of a console sign-in from a network nobody here works from
# (Seen.console_strange), from that address: never-made listings of this many services are a
# held sign (fresh seed 1630: a no-MFA person's password from a Tor exit listed the buckets,
# trails, regions and account summary -- calls he never made -- then read four of his own
# secrets; the sign-in was held, he always signs in without MFA, and nothing else counted).
# Services, not calls: taking stock of an account crosses services, where a console page the
# person never opened lists several things of one service at once (review: a trip's first
# visit to the CloudTrail console made three never-made listings). It pages with the held
# sign-in it follows, or with another sign; a note that the network is new is its premise
# (findings.ON_CONSOLE_NET). Not before the organisation's networks are known again after a
# restart (NOWHERE_MEMORY_MS: an office would be "nobody's" -- review).
CONSOLE_DISCOVERY_SERVICES = 3
# ... of these: the identities, secrets, parameters, keys and accounts -- what stolen keys take
# stock of first. A console page or an IDE's first session lists instances, volumes, functions
# and log groups by the handful (review), which a person's floor of five judges as before.
ELSEWHERE_LISTINGS = re.compile(
    r"^(ListSecrets|GetAccountAuthorizationDetails|GetAccountSummary|DescribeParameters"
    r"|List(Users|Roles|Groups|Policies|AccessKeys|Attached(User|Role|Group)Policies"
    r"|(User|Role|Group)Policies|InstanceProfiles|SAMLProviders|OpenIDConnectProviders"
    r"|Accounts|Keys|Aliases|Grants))$"
)
_IDENTITY = build_identity_rules()
GPU_TYPES = re.compile(r"^(p[2-6]|g[3-6]|g4dn|g5g|inf[12]|trn[12]|dl[12]|vt1|f1)[a-z]*\.", re.I)
# CPU mining runs on the biggest general machines (c5.24xlarge, m6i.32xlarge, *.metal): one in
# a region the organisation never works in is a hijack too (seed 842); in its own regions such
# machines are its workloads'
BIG_TYPES = re.compile(r"\.(metal|(8|9|\d{2,})xlarge)$", re.I)
# a new network or client is context for a principal whose active days (after its first) brought
# a new one at most this often: a person's home and office (never after week one), not a CI
# runner's fresh IP (every day) or a laptop that roams between cafés (most days)
NOVELTY_DAY_SHARE = 0.25
# a person's console sign-in from a network never used pages alone once this many of their
# days (after the first) showed their networks (seeds 841, 846, 849: people on their third
# day, no MFA, a new network, nothing else -- all benign)
CONSOLE_KNOWN_DAYS = 4
ELSEWHERE_RULE = "baseline:workload_credentials_elsewhere"
# the credentials' holder's network quiet this long, then used again: a visit of its own
HOLDER_AWAY_MS = 3_600_000
DENIED_BEFORE_GRANT_MS = 15 * 60_000  # a self-grant this soon after a denial is privilege creep
SELF_GRANTS = frozenset(
    {
        "PutRolePolicy",
        "AttachRolePolicy",
        "PutUserPolicy",
        "AttachUserPolicy",
        "UpdateAssumeRolePolicy",
        "AddUserToGroup",
    }
)
_PROD = re.compile(PROD_RESOURCE_RE)
# Calls that start EC2 capacity, and where their requests name instance types (a fleet's
# overrides, a spot request's launch specification: request_values walks the request) or
# the launch template whose types they take (OrgMemory.template_types)
COMPUTE_LAUNCHES = frozenset(
    {"RunInstances", "RequestSpotInstances", "RequestSpotFleet", "CreateFleet"}
)
INSTANCE_TYPE_KEYS = frozenset({"instanceType", "InstanceType"})
TEMPLATE_KEYS = frozenset(
    {"launchTemplateId", "LaunchTemplateId", "launchTemplateName", "LaunchTemplateName"}
)
# Administrator access through a managed policy of the organisation's own: one that allows
# every action on every resource attached to an identity (the red flag knows AWS's
# AdministratorAccess by name; this one only by what OrgMemory saw its text allow), or a
# version allowing everything made the default -- one made earlier without being the default,
# or an older one a narrower default replaced (Rhino Security's SetDefaultPolicyVersion
# escalation: the attached identities become admins with no call naming them)
POLICY_ATTACHES = frozenset({"AttachUserPolicy", "AttachRolePolicy", "AttachGroupPolicy"})
ALLOW_ALL_GRANTS = POLICY_ATTACHES | {"SetDefaultPolicyVersion"}


def _on(net_since: tuple[str, int], event: AuditEvent) -> bool:
    """`event` came from the network `net_since` names ((net_of, first ms): Seen.noted_net,
    Seen.fresh_net) within NEW_NET_KEEP_MS of its first call from there."""
    net, since = net_since
    return (
        bool(net)
        and 0 <= event.event_time_ms - since <= NEW_NET_KEEP_MS
        and net_of(event.source_ip) == net
    )


@frozen_record
class Novelty:
    """What was new about an event for its principal, judged before the principal's state
    learned from it (PrincipalState.seen, seeded from training): "" / False when not new."""

    action: bool
    region: bool
    net: str  # the event's network (net_of) when the principal never came from it
    client: str  # the client product when the principal never used it
    store: str  # the bucket or table when the principal never read it
    prod_grant: bool  # a grant call it never made on a production-named target

    @classmethod
    def of(
        cls,
        state: PrincipalState,
        event: AuditEvent,
        source: tuple[tuple[str, str], ...] | None = None,
        *,
        unvetted: bool = False,
        unvetted_prod: bool = False,
    ) -> Novelty:
        """`source` is `source_of(event)` when the caller computed it already. `unvetted`: the
        call paged when it was new and that alert is not resolved (detect.anomaly.vetting), so
        it is judged as never made; `unvetted_prod`: the same for its use on production."""
        seen = state.seen
        # (source_of's three dimensions, in its order: unpacked, not gathered in a dict each
        # event)
        (_, net), (_, client), (_, store) = source if source is not None else source_of(event)
        return cls(
            unvetted or event.action not in seen["action"],
            event.region not in seen["region"],
            net if net and net not in seen["net"] else "",
            client if client and client not in seen["client"] else "",
            store if store and store not in seen["store"] else "",
            event.action in GRANT_ACTIONS
            and any(_PROD.search(r) for r in event.resources)
            and (unvetted_prod or event.action not in seen["prod"]),
        )


def _rarely_new(state: PrincipalState, dim: str) -> bool:
    """At most NOVELTY_DAY_SHARE of the principal's active days after its first brought a new
    value of `dim` (the share of PrincipalState.novelty_share, without today's: observe() has
    counted today's new value already); False while too few days are known."""
    if state.novelty_share(dim) is None:
        return False
    earlier = state.novel_days.get(dim, 0) - 1
    return max(earlier, 0) / (state.active_days - 1) <= NOVELTY_DAY_SHARE


class BehaviourDetector:
    """Streaming checks over a principal's own behaviour (see module)."""

    def __init__(self, org: OrgMemory) -> None:
        self.org = org
        self._reads = SecretReads(org)
        self._refusals = Refusals()
        self._handover = Handover(org)
        self._slow_reads = SlowReads()
        self._collection = Collection()
        self._store_surge = StoreSurge(nowhere=self._nowhere)
        self._discovery = TallyBook(WINDOW_MS)
        self._elsewhere = TallyBook(WINDOW_MS)  # a person's, from a new network and client
        # ... the services a person's never-made listings touched from a strange console session
        self._console_listings = TallyBook(WINDOW_MS)
        self._seen: dict[str, Seen] = {}

    def evaluate(self, state: PrincipalState, event: AuditEvent, new: Novelty) -> list[Finding]:
        """Findings for `event`; `new` says what was new about it for its principal."""
        found: list[Finding | None] = []
        record = record_of(event)
        result = outcome_of(event)
        seen = self._seen_of(state.key)
        if new.net:
            seen.fresh_net = (new.net, event.event_time_ms)
        context = self._context(state, event, new)  # first: it notes a new client for below
        if state.actor_kind == "human" and any("net" in f.explanation[NEWS] for f in context):
            self._slow_reads.new_network(state.key, new.net, event.event_time_ms)
        found.append(self._holder_back(state, event))
        if new.action and event.action == "Decrypt":
            self._reads.first_decrypt(state, event)  # (whoever made it, however it ended)
        if result == "ok":
            if state.actor_kind != "human" and len(seen.succeeded) < MAX_VALUES:
                seen.succeeded.add(event.action)
            secrets = secret_names(event, record)
            if not secrets and state.actor_kind == "human":
                remember_plain(event, plain_parameter_names(event, record), seen)
            reads = self._reads
            found.append(reads.sweep(state, event, secrets, seen))
            found.append(reads.console_secrets(state, event, secrets, seen))
            found.append(reads.client_secrets(state, event, secrets, seen))
            found.append(reads.new_store_reads(state, event, seen, new.store))
            found.append(reads.decrypt_burst(state, event))
            found.append(self._slow_reads.observe(state, event))
            found.append(self._store_surge.observe(state, event))
            # each check below returns None at once unless its own first test passes: asked
            # here, most events skip the calls (-3% CPU on world 1178's replay)
            action = event.action
            if action in GRANT_ACTIONS:
                found.append(self._grant(state, event, new.action, new.prod_grant))
            if action in COMPUTE_LAUNCHES:
                found.append(self._region(state, event, record, new.region))
            if action in SELF_GRANTS:
                found.append(self._self_grant(state, event, record, seen))
            if action in ALLOW_ALL_GRANTS:
                found.append(self._allow_all_policy(state, event, record))
            if action == "ConsoleLogin":
                found.append(self._console(state, event, record, new, seen))
            if action in PASSED_ROLES:
                found.append(
                    self._handover.passed_role(
                        state,
                        event,
                        record,
                        seen,
                        new_action=new.action,
                        noted_net=_on(seen.noted_net, event),
                    )
                )
            if seen.borrowed and action in INVOKE_ACTIONS:
                found.append(self._handover.runs_borrowed(state, event, record, seen))
            found.append(self._discovery_burst(state, event, new))
        elif result == "denied":
            seen.denied_ms = event.event_time_ms
            found.append(self._refusals.denied_burst(state, event, own=seen.succeeded))
        found.append(
            self._refusals.session_start(
                state,
                event,
                record,
                denied=result == "denied",
                # (new to it, and it came from others before: the state learned this one)
                new_net=bool(new.net) and len(state.seen["net"]) > 1,
            )
        )
        found.append(
            self._collection.observe(state, event, new_action=new.action, ok=result == "ok")
        )
        found.extend(context)
        return [f for f in found if f is not None]

    def _nowhere(self, state: PrincipalState, event: AuditEvent) -> bool:
        """The event came from a network the principal first used in the last NOWHERE_NEW_MS,
        mature by then, that nobody else in the organisation works from, by a network memory
        that has learned for NOWHERE_MEMORY_MS -- and the principal rarely sees a new network
        (review: a person on a different network every day pulled 2.6x from today's, as they
        might any day) (storesurge)."""
        net = net_of(event.source_ip)
        age = state.late_net_age(net, event.event_time_ms)
        if age is None or age > NOWHERE_NEW_MS:
            return False
        if self.org.networks_known_ms(event.event_time_ms) < NOWHERE_MEMORY_MS:
            return False  # (after a restart the office is nobody else's until others come)
        return _rarely_new(state, "net") and not self.org.network_of_others(net, state.key)

    # -- detectors -------------------------------------------------------------------------------
    def _holder_back(self, state: PrincipalState, event: AuditEvent) -> Finding | None:
        """The principal's credentials back on the network a sign that someone else holds them
        came from (a network new to it then: OrgMemory.mark_holder_net), after HOLDER_AWAY_MS
        away, within a week and while that alert is unresolved: the holder's next visit. It
        grows that alert (findings.HOLDER_BACK_RULE), so a wrong sign costs no second page
        (fresh seed 1379: a stolen key's first visit through an attack tool from a Tor exit
        paged; a day later the same exit, through boto3, listed IAM and decrypted 27 times --
        the first visit had taught Leash its network and its calls, and nothing paged)."""
        away = self.org.holder_back(state.key, event.source_ip, event.event_time_ms)
        if away < HOLDER_AWAY_MS:
            return None
        net = net_of(event.source_ip)
        return make_finding(  # (medium: it raises no alert's severity, and opens none)
            state,
            event,
            HOLDER_BACK_RULE,
            "medium",
            f"back after {away / 3_600_000:.1f} h on {net}, the network a sign that someone "
            "else holds these credentials came from; that alert is not resolved",
            explanation={"holder_network": net, "away_hours": round(away / 3_600_000, 1)},
        )

    def _discovery_burst(
        self, state: PrincipalState, event: AuditEvent, new: Novelty
    ) -> Finding | None:
        """A person listing what the account holds with calls they never made (DISCOVERY),
        held for a second sign -- or a workload, from a network new to it (a context note) that
        nobody in the organisation works from, which pages: the network is this finding's
        premise, so it cannot be its second sign (as findings.FROM_NEW_NETWORK says of the
        console's secrets), and a workload repeats one set of calls wherever it runs. A person's
        identity, secret and account listings (ELSEWHERE_LISTINGS) from a network and a client
        both new to them where nobody works page the same way, at a lower floor
        (PERSON_ELSEWHERE_DISCOVERY_NEW; findings.FROM_ELSEWHERE). A person's under their
        floor, from the address of a console sign-in from a network nobody here works from, are
        counted by service and held at CONSOLE_DISCOVERY_SERVICES (findings.ON_CONSOLE_NET)."""
        if not (new.action and state.mature) or state.actor_kind not in ("human", "service"):
            return None
        if event.action_class != "read" or not DISCOVERY.match(event.action):
            return None
        floor, who, where, tier = DISCOVERY_NEW, "person", "", "hold"
        book, elsewhere = self._discovery, self._from_new_net(state.key, event)
        explanation: dict[str, object] = {}
        seen = self._seen_of(state.key)
        if _on(seen.noted_net, event):
            explanation[ON_NOTED_NET] = True  # (triage: not lowered on an install's first days)
        if _on(seen.fresh_net, event):
            explanation[ON_FRESH_NET] = True  # (... unless the person roams)
        if state.actor_kind == "human":
            if elsewhere and ELSEWHERE_LISTINGS.match(event.action):
                floor, tier, book = PERSON_ELSEWHERE_DISCOVERY_NEW, "page", self._elsewhere
                where = (
                    f", from a network and a client both new to them that nobody here works "
                    f"from ({elsewhere})"
                )
                explanation[FROM_ELSEWHERE] = elsewhere
        elif state.actor_kind == "service":
            if not elsewhere:
                return None  # (a NAT or a network the organisation's others use: its release)
            if not _IDENTITY.person_client(event.user_agent):
                floor = WORKLOAD_DISCOVERY_NEW
            who, tier = "workload", "page"
            where = f", from a network nobody here works from ({elsewhere})"
        tally = book.get(state.key)
        count = tally.add(event.event_time_ms, event.event_id, event.action)
        said, measure = f"{count:g} listing calls this {who} never made", "new_discovery_calls_10m"
        if count < floor:
            if who != "person" or FROM_ELSEWHERE in explanation:
                return None
            if not self._console_session(seen, event):
                return None
            tally = self._console_listings.get(state.key)
            count = tally.add(event.event_time_ms, event.event_id, event.source)
            if count < CONSOLE_DISCOVERY_SERVICES:
                return None
            floor, measure = CONSOLE_DISCOVERY_SERVICES, "new_discovery_services_10m"
            said = f"listing calls this person never made, of {count:g} services"
            where = (
                f", right after a console sign-in from a network nobody here works from "
                f"({event.source_ip})"
            )
            explanation[ON_CONSOLE_NET] = net_of(event.source_ip)  # (its premise: paging)
        finding = make_finding(
            state,
            event,
            "baseline:first_seen_discovery",
            "medium",
            f"{said}, in 10 min{where}: taking stock of the account",
            ids=tally.ids(),
            first_ms=tally.first_ms(),
            explanation={
                measure: {"value": count, "baseline": 0.0, "threshold": floor},
                **explanation,
            },
        )
        return replace(finding, tier=tier)

    def _console_session(self, seen: Seen, event: AuditEvent) -> bool:
        """`event` came from the address of the principal's latest console sign-in from a
        network nobody here works from (Seen.console, Seen.console_strange), within WINDOW_MS
        of it -- and the organisation's networks are known (NOWHERE_MEMORY_MS since a restart)."""
        return (
            seen.console_strange
            and in_console_session(seen, event)
            and self.org.networks_known_ms(event.event_time_ms) >= NOWHERE_MEMORY_MS
        )

    def _from_new_net(self, principal: str, event: AuditEvent) -> str:
        """The network `event` came from, if it is the one a context note found new to its
        principal (Seen.new_net) within NEW_NET_KEEP_MS and nobody else here works from it."""
        noted = self._seen_of(principal).new_net
        if not _on(noted, event) or self.org.network_of_others(noted[0], principal):
            return ""
        return noted[0]

    def _grant(
        self, state: PrincipalState, event: AuditEvent, new_action: bool, prod_grant: bool
    ) -> Finding | None:
        """A way into running code or a host the principal never used -- at all, or never on a
        production-named target (a coding agent updating dev functions daily, then prod)."""
        if event.action not in GRANT_ACTIONS:
            return None
        target = event.resources[0] if event.resources else "-"
        on_prod = any(_PROD.search(r) for r in event.resources)
        first_on_prod = prod_grant
        # a pipeline deploys wherever it is pointed: its known call reaching a production
        # target for the first time is a promotion, not a new way in. A person or an AI agent
        # that worked in dev and staging until now has stepped out of its scope: a person's
        # code pushed by hand into production for the first time pages once, like their first
        # shell on a host (fresh seeds 1046, 1205, 1226, 1241: developers' credentials pushing
        # code to a production function after days of staging pushes, all four missed as
        # "promotion"; in 81 stored worlds no person's first push to production was anything
        # else). Once its alert is resolved the call is learned (detect.anomaly.vetting). A
        # "person" calling through an SDK is as likely a pipeline on an IAM user's keys
        # (Jenkins, Bitbucket): only a person's own client -- the CLI, the console, a toolkit
        # -- makes it a person's push (review; the four incidents above came through the CLI).
        first_on_prod = first_on_prod and (
            state.actor_kind == "agent"
            or (state.actor_kind == "human" and _IDENTITY.person_client(event.user_agent))
        )
        if not state.mature or not (new_action or first_on_prod):
            return None
        scope = "" if new_action else " on a production resource"
        return make_finding(
            state,
            event,
            "baseline:first_access_grant",
            "high",
            f"first {event.action}{scope} by this principal ({target}): a way into running "
            "code or a host it never used before",
            explanation={
                "action": event.action,
                "resource": target,
                "host_or_production": on_prod or event.action in HOST_ACCESS,
            },
        )

    def _self_grant(
        self, state: PrincipalState, event: AuditEvent, record: Mapping[str, Any], seen: Seen
    ) -> Finding | None:
        """A principal changing its own permissions. Right after being denied it is privilege
        creep and pages; otherwise (a break-glass role elevating itself) it waits to be
        corroborated."""
        if event.action not in SELF_GRANTS or not _targets_self(event, record):
            return None
        creep = event.event_time_ms - seen.denied_ms <= DENIED_BEFORE_GRANT_MS
        finding = make_finding(
            state,
            event,
            "baseline:self_grant",
            "high",
            f"{event.action} on its own identity"
            + (" minutes after being denied: granting itself what it lacked" if creep else ""),
            explanation={"action": event.action, "after_denial": creep},
        )
        return finding if creep else replace(finding, tier="hold")

    def _allow_all_policy(
        self, state: PrincipalState, event: AuditEvent, record: Mapping[str, Any]
    ) -> Finding | None:
        """Administrator access granted through a managed policy that allows everything (see
        ALLOW_ALL_GRANTS): a finding of the kind a red flag makes, judged by triage as the red
        flag on AdministratorAccess is (routine, strangers, new administrators)."""
        params = lookup(record, "requestParameters")
        arn = lookup(params, "policyArn")
        if not isinstance(arn, str) or arn.endswith(":policy/AdministratorAccess"):
            return None  # (AWS's own: redflag:admin_policy_attached)
        at = event.event_time_ms
        if event.action == "SetDefaultPolicyVersion":
            version = str(lookup(params, "versionId") or "")
            made = self.org.admin_version(arn, version)
            if made is None or made > at or self.org.admin_policy_since(arn) is not None:
                return None  # (a version to allow everything instead of another: nobody new)
            target = arn
            detail = (
                f"makes version {version} of {arn}, which allows every action on every "
                "resource, its default: every identity it is attached to becomes an administrator"
            )
        else:
            since = self.org.admin_policy_since(arn)
            if since is None or since > at:
                return None
            target = str(
                lookup(params, "userName")
                or lookup(params, "roleName")
                or lookup(params, "groupName")
                or "-"
            )
            detail = (
                f"attaches {arn}, a policy that allows every action on every resource, to "
                f"{target}: administrator access"
            )
        finding = make_finding(
            state,
            event,
            ADMIN_POLICY_RULE,
            "high",
            f"{event.action} {detail}",
            explanation={"action": event.action, "policy": arn, "resource": target},
        )
        return replace(finding, kind="rule")

    def _console(
        self,
        state: PrincipalState,
        event: AuditEvent,
        record: Mapping[str, Any],
        new: Novelty,
        seen: Seen,
    ) -> Finding | None:
        """A person's console sign-in without MFA from a network it never signed in from. One
        with MFA (an Identity Center sign-in always says so) raises nothing, but the secrets that
        session reads next from there are a sign (SecretReads.console_secrets): a phished or
        hijacked SSO session (seed 976: a read-only user's sign-in from a Tor exit, then eleven
        secrets in two minutes -- she never read one before)."""
        if event.action != "ConsoleLogin":
            return None
        with_mfa = str(lookup(record, "additionalEventData", "MFAUsed") or "").lower() != "no"
        if not state.mature:
            return None
        if not new.net or len(state.seen["net"]) <= 1:
            return None  # (this event's network is in the set already: observe() ran)
        # a network nobody here works from, for a person seen on enough days to know theirs
        strange = state.active_days > CONSOLE_KNOWN_DAYS and not self.org.shared_network(
            new.net, state.key
        )
        finding = None
        # Without MFA is news only from a person whose sign-ins had it (or who never signed in
        # to the console): one without an MFA device signs in without it at home and on trips
        # alike (seeds 1058, 1133: a trip paged alone). For that person it waits for a second
        # sign like any sign-in from a new network. The person's latest sign-in decides
        # (OrgMemory.signed_in_without_mfa) -- a trade for precision: a stolen password of a
        # person without MFA pages on what its session does, not at the sign-in.
        habit = not with_mfa and self.org.signed_in_without_mfa(
            event.principal_key, event.event_time_ms, state.seen["signin"]
        )
        if not with_mfa:
            finding = make_finding(
                state,
                event,
                "baseline:console_new_network",
                "high",
                f"console sign-in without MFA from a network this user never used "
                f"({event.source_ip})",
                explanation={"ip": event.source_ip, "network": new.net},
            )
            if strange and not habit:
                return finding
        # Without MFA: a network colleagues work from (the office, the VPN), or a person seen on
        # too few days to know their networks yet (a young install: home on day two, a trip on
        # day three -- two quiet days say little about how often one travels): waits for a
        # second sign. (Holding it also for people whose days often bring a new network was
        # tried and undone: in a young install most people have shown two or three networks in
        # their first days, and stolen console passwords followed by a few secret reads stopped
        # paging.) With MFA or without, the secrets that session reads next are that second
        # sign (SecretReads.console_secrets).
        seen.console, seen.console_secrets = (event.source_ip, event.event_time_ms), set()
        seen.console_strange, seen.console_traced = strange, False
        return None if finding is None else replace(finding, tier="hold")

    def _region(
        self, state: PrincipalState, event: AuditEvent, record: Mapping[str, Any], new_region: bool
    ) -> Finding | None:
        if event.action not in COMPUTE_LAUNCHES:
            return None
        request = lookup(record, "requestParameters")
        types = request_values(request, INSTANCE_TYPE_KEYS) or [
            kind
            for template in request_values(request, TEMPLATE_KEYS)
            for kind in self.org.template_types(event.account, template)
        ]  # (a launch or a fleet that names no type takes its template's)
        if not types:
            return None
        # a fleet names candidates, of which EC2 picks: all of them must be such machines
        # (review: Karpenter lists dozens of general types and one GPU type)
        if all(GPU_TYPES.match(t) for t in types):
            instance_type = types[0]
        elif self.org.region_in_use(event.region) or self.org.young_account(
            event.account, event.event_time_ms
        ):
            return None  # (on an install's first days every region is one nobody used yet)
        elif all(GPU_TYPES.match(t) or BIG_TYPES.search(t) for t in types):
            instance_type = types[0]
        else:
            return None
        seen = self._seen_of(state.key)
        if event.region in seen.gpu_regions or len(seen.gpu_regions) >= MAX_VALUES:
            return None
        seen.gpu_regions.add(event.region)
        if not (new_region or not self.org.region_in_use(event.region) or state.mature):
            return None
        unused = not self.org.region_in_use(event.region)
        why = (
            "in a region the organisation does not use"
            if unused
            else "in a region it never ran GPU instances in"
        )
        explanation: dict[str, object] = {"region": event.region, "instance_type": instance_type}
        if unused and not self.org.young_account(event.account, event.event_time_ms):
            # the organisation's regions, not the principal's history, say this is strange:
            # a person or role new to Leash has no history to excuse it with (fresh seed 1305:
            # an Identity Center user on her second day launched g5.12xlarge machines in a
            # region nobody here used, through curl at 23:35 -- noted as a baseline being learned)
            explanation["catastrophic"] = (
                f"mining-sized compute in {event.region}, a region the organisation never used"
            )
        return make_finding(
            state,
            event,
            "baseline:compute_hijack",
            "high",
            f"{instance_type} {'launched' if event.action == 'RunInstances' else 'requested'} "
            f"{why} ({event.region})",
            explanation=explanation,
        )

    def _context(self, state: PrincipalState, event: AuditEvent, new: Novelty) -> list[Finding]:
        """Notes: a new network (net_of) or a new client for a principal that rarely sees one --
        judged by the share of its own days that brought a new one (PrincipalState.novelty_share,
        observe() has counted this one already: today's novelty is not held against it)."""
        if not new.net and not new.client:
            return []  # (nearly every event: neither is new)
        fresh: dict[str, str] = {}
        for value, dim, what in ((new.net, "net", "network"), (new.client, "client", "client")):
            if not value or not state.mature or len(state.seen[dim]) < 2:
                continue  # (observe() added this value: a principal with no earlier one)
            if dim == "net" and self.org.shared_network(value, state.key):
                continue  # colleagues work from it: the office or the VPN, not a stranger's
            if _rarely_new(state, dim):
                fresh[dim] = f"a new {what} ({value})"
            elif (
                state.novelty_share(dim) is not None
                and dim == "client"
                and state.actor_kind == "human"
                and self.org.client_nobody_uses(value, event)
            ):
                # a person who roams between networks and tools still does not call through
                # a client nobody in the organisation uses (fresh seed 1250: an IAM user's key
                # from a Tor exit through python-requests -- his days brought a new network or
                # client a third of the time, so neither was news, and the decrypt burst it
                # made waited for a second sign that never came)
                fresh[dim] = f"a new client ({value}) nobody here uses"
        if not fresh:
            return []
        if "net" in fresh:
            self._seen_of(state.key).noted_net = (new.net, event.event_time_ms)
        if "client" in fresh and state.actor_kind in ("agent", "service"):
            seen = self._seen_of(state.key)
            seen.new_client, seen.client_secrets = (new.client, event.event_time_ms), set()
        if "net" in fresh and (
            state.actor_kind == "service"
            or (
                state.actor_kind == "human"
                and len(fresh) == 2
                and new.client not in BROWSERS
                and not self.org.network_of_others(new.net, state.key)
            )
        ):
            # (a person: only a network and a client new at once, where nobody here works --
            # not their first console visit from a hotel: a browser is a person's own client)
            self._seen_of(state.key).new_net = (new.net, event.event_time_ms)
        said = " and ".join(fresh.values())
        rule, severity, summary = "context:new_source", "medium", "a principal that rarely sees one"
        if state.actor_kind == "service" and "client" in fresh and new.client in BROWSERS:
            # a workload calls through SDKs and CLIs; its own session from a browser is its keys
            # in a person's hands, wherever the network (a CI role's runners roam: seed 764's
            # GitHub Actions role, refused 15 calls and reading secrets from Firefox)
            rule, severity = ELSEWHERE_RULE, "high"
            summary = (
                "a workload that only ever called through SDKs and CLIs: a browser using its "
                "credentials"
            )
        elif (
            state.actor_kind in ("service", "agent")
            and len(fresh) == 2
            and not self.org.network_of_others(new.net, state.key)
        ):
            # a workload or an AI agent that rarely moves does not change networks and tools
            # at once; a network nobody here ever worked from and another client is its keys
            # used outside (GuardDuty's credential exfiltration): it pages, where a person's
            # (travel, a new laptop) waits. (An agent on developers' laptops or CI runners sees
            # new networks on most days: its novelty share keeps it out of here.)
            rule, severity = ELSEWHERE_RULE, "high"
            summary = (
                f"a {'workload' if state.actor_kind == 'service' else 'agent'} that rarely sees "
                "either, from a network nobody in the organisation works from: its credentials "
                "used outside"
            )
        explanation: dict[str, object] = {
            "new": list(fresh.values()),
            "ip": event.source_ip,
            NEWS: sorted(fresh),
        }
        known_net = not new.net or self.org.shared_network(new.net, state.key)
        if known_net:
            explanation[KNOWN_NET] = True
        if (
            state.actor_kind == "human"
            and set(fresh) == {"client"}
            and new.client in BROWSERS
            and known_net
        ):  # a person's first console visit on a known network: see paging._corroborates
            explanation[CONSOLE_ONLY] = True
        return [
            make_finding(
                state, event, rule, severity, f"{said} for {summary}", explanation=explanation
            )
        ]

    def _seen_of(self, principal: str) -> Seen:
        """The principal's Seen, made on its first event (not built per call to be dropped)."""
        seen = self._seen.get(principal)
        if seen is None:
            seen = self._seen[principal] = Seen()
        return seen

    def mark_flagged(self, principal: str, time_ms: int) -> None:
        """The principal paged at `time_ms`: that day teaches none of these their usual."""
        self._reads.mark_flagged(principal, time_ms, self._seen.get(principal))
        self._refusals.mark_flagged(principal, time_ms)
        self._slow_reads.mark_flagged(principal, time_ms)
        self._store_surge.mark_flagged(principal, time_ms)

    def forget(self, principal: str) -> None:
        self._reads.forget(principal)
        self._refusals.forget(principal)
        self._slow_reads.forget(principal)
        self._collection.forget(principal)
        self._store_surge.forget(principal)
        self._discovery.forget(principal)
        self._elsewhere.forget(principal)
        self._console_listings.forget(principal)
        self._seen.pop(principal, None)


# the clients of a person at a browser or the console (detect.features.client_of's first token)
BROWSERS = frozenset({"mozilla", "console.amazonaws.com", "signin.amazonaws.com", "s3console"})


def _targets_self(event: AuditEvent, record: Mapping[str, Any]) -> bool:
    """The request names the caller's own role (assumed-role session) or user."""
    caller = event.principal.split("/")
    params = lookup(record, "requestParameters")
    if not isinstance(params, Mapping):
        return False
    if ":assumed-role/" in event.principal and len(caller) >= 2:
        return str(lookup(params, "roleName") or "") == caller[1]
    if ":user/" in event.principal:
        return str(lookup(params, "userName") or "") == caller[-1]
    return False


def request_values(params: object, keys: frozenset[str], depth: int = 0) -> list[str]:
    """The text values under `keys` at any depth of a request, first seen first: instance
    types (RunInstances' `instanceType`, RequestSpotInstances' `launchSpecification`,
    CreateFleet's `LaunchTemplateConfigs.Overrides`, lists of them) or the launch templates a
    launch or a fleet names."""
    found: list[str] = []
    if depth > 6:
        return found
    if isinstance(params, Mapping):
        for key, value in params.items():
            if key in keys and isinstance(value, str):
                found.append(value)
            elif isinstance(value, Mapping | list):
                found += request_values(value, keys, depth + 1)
    elif isinstance(params, list):
        for item in params:
            found += request_values(item, keys, depth + 1)
    return found
