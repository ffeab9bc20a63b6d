"""BehaviourDetector: credential sweeps, denied bursts, first access grants, hijacked regions,
and the context notes (a new network or client for a principal that rarely sees one).

Each compares the principal with itself: a sweep is many distinct secrets in 10 minutes against
its own days (an app reading its three secrets at start-up is not a sweep); a burst of denied
calls against its own denials; an access grant (new code on a function, a shell on a host, a
key pushed to an instance, a password read) is judged by whether the principal ever did it.
Novelty is judged against the principal's own novelty: a CI role sees a new runner IP on every
job, so a new IP means nothing for it; for a person who works from two networks it is context.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from detect.anomaly.tally import DAY_MS, Tally, TallyBook, threshold
from detect.context.org import OrgMemory, role_of
from detect.features import (
    GRANT_ACTIONS,
    PROD_RESOURCE_RE,
    PrincipalState,
    client_of,
    source_of,
    store_of,
)
from detect.findings import Finding
from detect.rules.record import field as lookup
from detect.rules.record import outcome_of, record_of
from ingest.events import AuditEvent

__all__ = ["BehaviourDetector", "Novelty"]

WINDOW_MS = 600_000  # 10 minutes
SWEEP_FLOORS = {"agent": 15, "human": 15, "service": 20}  # distinct secrets read in 10 min
DENIED_FLOORS = {"agent": 8, "human": 12, "service": 8}  # distinct denied actions in 10 min
DENIED_FAST_FLOORS = {"agent": 15, "human": 20, "service": 15}  # ... and in one minute
FAST_WINDOW_MS = 60_000
JOB_HIGH = 10.0  # a principal whose quiet days reach this many does it for a living
HOST_ACCESS = GRANT_ACTIONS - {"UpdateFunctionCode", "UpdateFunctionCode20150331v2"}
FAST_SWEEP_MS = 120_000  # a sweep this fast is no workload's habit
# ... but on the install's first days (OrgMemory.young_account) nobody's scripts are known yet:
# a person's script reading the configuration it needs reads 16 in a minute and a half (seeds
# 938, 951); stolen keys swept 20 secrets in 4 seconds (Stratus's recordings)
FAST_SWEEP_INSTALL_MS = 30_000
# Stolen credentials list what the account holds before they take it (MITRE's discovery):
# IAM users and policies, the account summary, parameters, functions. A person calling this
# many listing calls they never made before, within minutes, is held for a second sign (a
# sweep, a decrypt burst, a new network: seed 854's stolen key listed five it never had).
# Only people: an AI agent exploring an account and a pipeline planning new resources list
# what is new to them as their work.
DISCOVERY = re.compile(r"^(List|Describe|GetAccount|GetCallerIdentity$)")
DISCOVERY_NEW = 5  # distinct never-made listing calls in 10 min
# ... unless every secret in it is named for a non-production environment: a coding agent
# working in dev and staging reads their configuration by the dozen on its first day (seeds
# 797, 801); its own days judge that, and a sweep that reaches anything else is still swift
_NON_PROD = re.compile(
    r"(?i)(^|[^a-z0-9])(dev|development|staging|stage|stg|test|qa|sandbox)([^a-z0-9]|$)"
)
DECRYPT_FLOORS = {"agent": 60, "human": 30, "service": 1000}  # KMS Decrypt calls in 10 min
SECRET_READS = {
    ("secretsmanager", "GetSecretValue"): ("secretId",),
    ("secretsmanager", "BatchGetSecretValue"): ("secretIdList",),
    ("ssm", "GetParameter"): ("name",),
    ("ssm", "GetParameters"): ("names",),
    ("ssm", "GetParametersByPath"): ("path",),
    # each key opens what was encrypted under it: many different keys in minutes is a sweep
    # (seed 808: a key rotator's stolen credentials decrypting under 100 keys), where a
    # workload's envelope decryption reuses its one or two
    ("kms", "Decrypt"): ("keyId",),
}
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
MAX_VALUES = 512  # nets and clients remembered per principal
FAST_REFUSED_SHARE = 0.2  # of the minute's calls refused, for a fast burst to be a script's
CONSOLE_SECRETS = 5  # secrets read after a held console sign-in that corroborate it
# ... and read by an AI agent or a workload, within WINDOW_MS, through a client product it never
# used (for one that rarely sees a new one): its credentials in another tool's hands
NEW_CLIENT_SECRETS = 5
# ... through anything but AWS's own SDKs, CLIs and infrastructure tools (client_of's token):
# a workload moving from aws-sdk-go to aws-sdk-go-v2, or an agent's first Terraform plan, reads
# its configuration through tooling too; curl, python-requests or Postman hand-sign the calls
AWS_TOOLING = re.compile(
    r"^(aws|amazon|boto|apn|terraform|hashicorp|pulumi|jsii|cdk|cloudformation|localstack|"
    r"s3console|console|signin)"
)
MAX_SECRETS = 256  # secrets remembered per person or agent (as read before: see _familiar)
FAMILIAR_SHARE = 10  # a sweep is familiar when at most 1 in this many secrets are new
NEW_STORE_READS = 50  # objects read in 10 min from stores the principal first read within ...
NEW_STORE_MS = 3_600_000  # ... this: exfiltration from a bucket or table it never touched
SESSION_START_MS = 5 * 60_000  # a session's first minutes
SESSION_DENIALS = 10  # refused credential reads in them that page with no history (workloads)
# A workload's session that is refused this many different calls, and little else, in its first
# minutes is not its job running (a deploy that lacks one permission fails on it and stops):
# its credentials are in someone else's hands, finding out what they may do (seed 847: a
# deploy role's first seventeen calls all refused, nine different listings, then it read
# buckets). A role
# with no days of its own may be a new pipeline still missing its permissions: it waits.
SESSION_REFUSED_CALLS = 8
SESSION_REFUSED_SHARE = 0.8
# Calls that hand over a credential or a secret: a new session refused these again and again is
# someone trying stolen credentials on secrets (an agent hitting its permission boundary is
# refused all sorts of calls, and does not page for it)
CREDENTIAL_CALLS = frozenset(
    {
        "GetPasswordData",
        "DescribeInstanceAttribute",
        "GetSecretValue",
        "BatchGetSecretValue",
        "GetParameter",
        "GetParameters",
        "GetParametersByPath",
        "Decrypt",
        "GetSessionToken",
        "GetFederationToken",
        "CreateAccessKey",
        "GetRoleCredentials",
    }
)
MAX_SESSIONS = 50_000  # sessions remembered (oldest forgotten first)
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
# A function created with another function's own role, run by its creator this soon after
RUN_BORROWED_MS = 15 * 60_000
RUN_BORROWED_RULE = "baseline:borrowed_role_run"
MAX_BORROWED = 8  # such functions remembered per principal
INVOKE_ACTIONS = frozenset({"Invoke", "InvokeAsync", "InvokeWithResponseStream"})
# Calls that hand a role to new compute (iam:PassRole): where the request names the role, and
# the AWS service that will act with it (as it appears when AWS assumes the role)
PASSED_ROLES: dict[str, tuple[tuple[tuple[str, ...], ...], str]] = {
    "CreateFunction20150331": ((("role",),), "lambda"),
    "CreateFunction": ((("role",),), "lambda"),
    "UpdateFunctionConfiguration20150331v2": ((("role",),), "lambda"),
    "UpdateFunctionConfiguration": ((("role",),), "lambda"),
    "RunInstances": ((("iamInstanceProfile", "name"), ("iamInstanceProfile", "arn")), "ec2"),
    "AssociateIamInstanceProfile": (
        (("iamInstanceProfile", "name"), ("iamInstanceProfile", "arn")),
        "ec2",
    ),
    "RegisterTaskDefinition": ((("taskRoleArn",), ("executionRoleArn",)), "ecs-tasks"),
    "CreateStack": ((("roleARN",),), "cloudformation"),
    "UpdateStack": ((("roleARN",),), "cloudformation"),
    "CreateDevEndpoint": ((("roleArn",),), "glue"),
    "CreateJob": ((("role",), ("roleArn",)), "glue"),
    "CreateNotebookInstance": ((("roleArn",),), "sagemaker"),
    "CreateProject": ((("serviceRole",),), "codebuild"),
}


@dataclass(frozen=True)
class Novelty:
    """What was new about an event for its principal, judged before the principal's state
    learned from it (PrincipalState.seen, seeded from training): "" / False when not new."""

    action: bool
    region: bool
    net: str  # the event's /16 when the principal never came from it
    client: str  # the client product when the principal never used it
    store: str  # the bucket or table when the principal never read it
    prod_grant: bool  # a grant call it never made on a production-named target

    @classmethod
    def of(
        cls,
        state: PrincipalState,
        event: AuditEvent,
        source: tuple[tuple[str, str], ...] | None = None,
    ) -> Novelty:
        """`source` is `source_of(event)` when the caller computed it already."""
        seen = state.seen
        fresh = {
            dim: v if v and v not in seen[dim] else ""
            for dim, v in (source if source is not None else source_of(event))
        }
        return cls(
            event.action not in seen["action"],
            event.region not in seen["region"],
            fresh["net"],
            fresh["client"],
            fresh["store"],
            event.action in GRANT_ACTIONS
            and any(_PROD.search(r) for r in event.resources)
            and event.action not in seen["prod"],
        )


@dataclass
class _Seen:  # what a principal's state does not keep
    gpu_regions: set[str] = field(default_factory=set)  # regions it launched GPU instances in
    new_stores: dict[str, int] = field(default_factory=dict)  # store -> first read ms (new ones)
    denied_ms: int = -(10**15)  # latest denied call
    passed: set[str] = field(default_factory=set)  # roles it handed to new compute
    secrets: dict[str, int] = field(default_factory=dict)  # secret -> first read ms
    secrets_since: int | None = None  # when this process began remembering them
    # a console sign-in held for its new network: (ip, ms) and the secrets read from there since
    console: tuple[str, int] = ("", -(10**15))
    console_secrets: set[str] = field(default_factory=set)
    # functions it created with another function's own role: name -> (role, created ms, event)
    borrowed: dict[str, tuple[str, int, str]] = field(default_factory=dict)
    # a client product new to an agent or a workload that rarely sees one: (client, first ms),
    # and the secrets read through it since
    new_client: tuple[str, int] = ("", -(10**15))
    client_secrets: set[str] = field(default_factory=set)


@dataclass
class _Session:  # one run of a role (its session ARN) or one user
    first_ms: int
    denied: list[str] = field(default_factory=list)  # denied credential reads, first minutes
    calls: int = 0  # calls in its first minutes
    refusals: int = 0  # ... of them refused
    refused: dict[str, str] = field(default_factory=dict)  # refused call -> event id, same


class BehaviourDetector:
    """Streaming checks over a principal's own behaviour (see module)."""

    def __init__(self, org: OrgMemory) -> None:
        self.org = org
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._sweeps = TallyBook(WINDOW_MS)
        self._denied = TallyBook(WINDOW_MS)
        self._denied_fast = TallyBook(FAST_WINDOW_MS)
        self._new_reads = TallyBook(WINDOW_MS)
        self._decrypts = TallyBook(WINDOW_MS)
        self._discovery = TallyBook(WINDOW_MS)
        self._seen: dict[str, _Seen] = {}

    def evaluate(self, state: PrincipalState, event: AuditEvent, new: Novelty) -> list[Finding]:
        """Findings for `event`; `new` says what was new about it for its principal."""
        found: list[Finding | None] = []
        record = record_of(event)
        result = outcome_of(event)
        seen = self._seen.setdefault(state.key, _Seen())
        context = self._context(state, event, new)  # first: it notes a new client for below
        if result == "ok":
            secrets = _secret_names(event, record)
            found.append(self._sweep(state, event, secrets, seen))
            found.append(self._console_secrets(state, event, secrets, seen))
            found.append(self._client_secrets(state, event, secrets, seen))
            found.append(self._new_store_reads(state, event, seen, new))
            found.append(self._decrypt_burst(state, event))
            found.append(self._grant(state, event, new.action, new.prod_grant))
            found.append(self._region(state, event, record, new.region))
            found.append(self._self_grant(state, event, record, seen))
            found.append(self._console(state, event, record, new, seen))
            found.append(self._passed_role(state, event, record, seen))
            found.append(self._runs_borrowed(state, event, record, seen))
            found.append(self._discovery_burst(state, event, new))
        elif result == "denied":
            seen.denied_ms = event.event_time_ms
            found.append(self._denied_burst(state, event))
        found.append(self._session_start(state, event, denied=result == "denied"))
        found.extend(context)
        return [f for f in found if f is not None]

    # -- detectors -------------------------------------------------------------------------------
    def _sweep(
        self, state: PrincipalState, event: AuditEvent, names: list[str], seen: _Seen
    ) -> Finding | None:
        if not names:
            return None
        tally = self._sweeps.get(state.key)
        count = 0.0
        remember = state.actor_kind in ("human", "agent")  # the only kinds judged by it
        if remember and seen.secrets_since is None:
            seen.secrets_since = event.event_time_ms
        for name in names:
            count = tally.add(event.event_time_ms, event.event_id, name)
            if remember and name not in seen.secrets and len(seen.secrets) < MAX_SECRETS:
                seen.secrets[name] = event.event_time_ms
        limit = threshold(
            SWEEP_FLOORS, state.actor_kind, tally.high, JOB_HIGH, learned_days=state.learned_days
        )
        notes: dict[str, object] = {}
        if count <= limit:
            return None
        young = self.org.young_account(event.account, event.event_time_ms)
        fast_ms = FAST_SWEEP_INSTALL_MS if young else FAST_SWEEP_MS
        fast = event.event_time_ms - tally.first_ms() <= fast_ms
        non_prod = tally.all_keys(_NON_PROD.search)
        if fast and state.actor_kind != "service" and not non_prod:
            # a person or an agent does not open this many different secrets in two minutes:
            # no missing history excuses it (a service starting up may: its own days decide)
            notes["catastrophic"] = f"{count:g} distinct secrets within two minutes"
        finding = _past_own_finding(
            state,
            event,
            "baseline:credential_sweep",
            f"{count:g} distinct secrets, decrypted parameters or KMS keys read in 10 min",
            (tally, count, limit),
            "secrets_read_10m",
            notes,
        )
        # a person or an agent re-reading the secrets it read before this window is its own
        # work at a faster pace (a new service's config, a debugging session): a thief does not
        # know which secrets its victim reads and takes what it finds (seeds 893, 897: people
        # reading 16 of their usual dev and staging secrets from a new network paged)
        if state.actor_kind in ("human", "agent") and _familiar(tally, seen):
            return replace(finding, tier="trace")
        # ... and one that reaches only dev and staging configuration waits for a second sign
        # (seed 874: a coding agent reading 16 of the dev and staging parameters it reads all
        # day, where it usually reads 3 in ten minutes, paged twice on its own)
        return replace(finding, tier="hold") if non_prod else finding

    def _new_store_reads(
        self, state: PrincipalState, event: AuditEvent, seen: _Seen, new: Novelty
    ) -> Finding | None:
        """Bulk reads of a bucket or table the principal never read before: what it usually
        reads, in whatever volume (a quarter-end batch), is its job; a store it never touched,
        read wholesale, is exfiltration."""
        store = store_of(event)
        if not store:
            return None
        if new.store and state.mature and len(seen.new_stores) < MAX_VALUES:
            seen.new_stores.setdefault(store, event.event_time_ms)
        first = seen.new_stores.get(store)
        if first is None or event.event_time_ms - first > NEW_STORE_MS:
            return None
        tally = self._new_reads.get(state.key)
        count = tally.add(event.event_time_ms, event.event_id, event.event_id)
        if count < NEW_STORE_READS:
            return None
        return _finding(
            state,
            event,
            "baseline:bulk_read_new_store",
            "high",
            f"{count:g} objects or items read in 10 min from {store}, which this principal "
            "never read before",
            ids=tally.ids(),
            first_ms=tally.first_ms(),
            explanation={
                "new_store_reads_10m": {
                    "value": count,
                    "baseline": 0.0,
                    "threshold": NEW_STORE_READS,
                },
                "catastrophic": f"wholesale reads of {store}, never read by it before",
            },
        )

    def _discovery_burst(
        self, state: PrincipalState, event: AuditEvent, new: Novelty
    ) -> Finding | None:
        """A person listing what the account holds with calls they never made (DISCOVERY)."""
        if not (new.action and state.mature and state.actor_kind == "human"):
            return None
        if event.action_class != "read" or not DISCOVERY.match(event.action):
            return None
        tally = self._discovery.get(state.key)
        count = tally.add(event.event_time_ms, event.event_id, event.action)
        if count < DISCOVERY_NEW:
            return None
        finding = _finding(
            state,
            event,
            "baseline:first_seen_discovery",
            "medium",
            f"{count:g} listing calls this person never made, in 10 min: taking stock of the "
            "account",
            ids=tally.ids(),
            first_ms=tally.first_ms(),
            explanation={
                "new_discovery_calls_10m": {
                    "value": count,
                    "baseline": 0.0,
                    "threshold": DISCOVERY_NEW,
                }
            },
        )
        return replace(finding, tier="hold")

    def _denied_burst(self, state: PrincipalState, event: AuditEvent) -> Finding | None:
        """Distinct calls denied in 10 min, or in one minute, beyond the principal's own: a
        role that gets refused now and then over a deploy (a Terraform plan probing) is not
        one refused twenty different calls in thirty seconds (stolen credentials enumerating
        what they may do)."""
        over = [
            (found, span)
            for book, floors, span in (
                (self._denied, DENIED_FLOORS, "10m"),
                (self._denied_fast, DENIED_FAST_FLOORS, "1m"),
            )  # both windows count every denial, whichever pages
            if (found := _past_own(book, state, event, event.action, floors, JOB_HIGH))
        ]
        if not over:
            return None
        found, span = over[0]
        # a script enumerating is refused most of what it tries; an agent refused sixteen
        # different calls among two thousand in the minute is a busy agent (seed 880)
        fast = any(span == "1m" for _, span in over) and _refused_share(state, event) >= (
            FAST_REFUSED_SHARE
        )
        return _past_own_finding(
            state,
            event,
            "baseline:denied_burst",
            f"{found[1]:g} different calls denied in {span.replace('m', ' min')}: probing for "
            "permissions",
            found,
            f"denied_actions_{span}",
            {"denied_fast": True} if fast else None,
        )

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
        # a pipeline deploys wherever it is pointed and a person hotfixes: their known call
        # reaching a production target for the first time is a promotion, not a new way in; an
        # agent that worked in dev until now has stepped out of its scope
        first_on_prod = first_on_prod and state.actor_kind not in ("service", "human")
        if not state.mature or not (new_action or first_on_prod):
            return None
        scope = "" if new_action else " on a production resource"
        return _finding(
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

    def _passed_role(
        self, state: PrincipalState, event: AuditEvent, record: Mapping[str, Any], seen: _Seen
    ) -> Finding | None:
        """New compute handed a role that is another identity (iam:PassRole escalation): a
        function, instance or task created with a person's, an AI agent's, a permission
        changer's or CloudFormation's role runs with permissions its creator borrowed. A
        service's own role (AWS assumed it for that service before), a role created within the
        day (a deploy creating its function's role), the caller's own role and a role it
        handed over before are how deploys look."""
        spec = PASSED_ROLES.get(event.action)
        if spec is None:
            return None
        paths, service = spec
        values = (lookup(record, "requestParameters", *path) for path in paths)
        for value in (str(v) for v in values if isinstance(v, str) and v):
            name = value.rpartition("/")[2] if "/" in value else value
            role = role_of(value) or (event.account, name)
            if role_of(event.principal) == role or value in seen.passed:
                continue
            if len(seen.passed) < MAX_VALUES:
                seen.passed.add(value)
            if self.org.young(role[1], event.event_time_ms):
                continue
            capacity = self.org.identity_role(role, service)
            if not capacity:
                held = self._function_role(state, event, record, role, value, seen)
                if held is not None:
                    return held
                continue
            return _finding(
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
        return None

    def _function_role(
        self,
        state: PrincipalState,
        event: AuditEvent,
        record: Mapping[str, Any],
        role: tuple[str, str],
        value: str,
        seen: _Seen,
    ) -> Finding | None:
        """A person or an AI agent creating a function with -- or switching one to -- the
        role another function runs with (Lambda ran it only for that one or two): the code gets
        that workload's permissions (seed 934: a person's function with the IAM key rotator's
        role). A variant of the function (its name in the new one's) is how people reuse a
        role (OrgMemory.function_role); otherwise this waits, and running the function within
        RUN_BORROWED_MS (_runs_borrowed) is its second sign. Pipelines deploy (a replaced
        function gets a new name), so theirs are not judged here."""
        if state.actor_kind not in ("human", "agent"):
            return None
        # (Lambda's calls only -- a create or a configuration update -- name a function)
        function = _function_name(lookup(record, "requestParameters", "functionName"))
        whose = self.org.function_role(role, function) if function else ""
        if not whose:
            return None
        if function not in seen.borrowed and len(seen.borrowed) >= MAX_BORROWED:
            seen.borrowed.pop(next(iter(seen.borrowed)))
        seen.borrowed[function] = (role[1], event.event_time_ms, event.event_id)
        finding = _finding(
            state,
            event,
            "baseline:borrowed_role",
            "high",
            f"{event.action} gives function {function} {role[1]}, {whose}: code with "
            "another workload's permissions",
            explanation={"action": event.action, "role": value, "capacity": whose},
        )
        return replace(finding, tier="hold")

    def _runs_borrowed(
        self, state: PrincipalState, event: AuditEvent, record: Mapping[str, Any], seen: _Seen
    ) -> Finding | None:
        """The function held by _function_role invoked by its creator within RUN_BORROWED_MS:
        the create-and-run of a PassRole escalation."""
        if not seen.borrowed or event.action not in INVOKE_ACTIONS:
            return None
        function = _function_name(lookup(record, "requestParameters", "functionName"))
        held = seen.borrowed.pop(function, None)
        if held is None:
            return None
        role, created_ms, created_id = held
        if not 0 <= event.event_time_ms - created_ms <= RUN_BORROWED_MS:
            return None
        return _finding(
            state,
            event,
            RUN_BORROWED_RULE,
            "high",
            f"invoked {function}, given {role} (another workload's role) "
            f"{(event.event_time_ms - created_ms) // 1000} s earlier: running code with its "
            "permissions",
            ids=(created_id, event.event_id),
            first_ms=created_ms,
            explanation={"action": event.action, "role": role},
        )

    def _session_start(
        self, state: PrincipalState, event: AuditEvent, *, denied: bool
    ) -> Finding | None:
        """A workload session refused credential reads again and again in its first minutes:
        stolen or freshly assumed credentials being tried on secrets. Needs no history: the
        session itself is new."""
        session = self._sessions.get(event.principal)
        if session is None:
            session = self._sessions[event.principal] = _Session(event.event_time_ms)
            if len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        fresh = event.event_time_ms - session.first_ms <= SESSION_START_MS
        if not fresh or state.actor_kind == "human":
            return None
        session.calls += 1
        session.refusals += denied
        if denied and len(session.refused) < SESSION_REFUSED_CALLS:
            session.refused.setdefault(event.action, event.event_id)
            if len(session.refused) == SESSION_REFUSED_CALLS:
                found = self._refused_start(state, event, session)
                if found is not None:
                    return found
        if not denied or event.action not in CREDENTIAL_CALLS:
            return None
        session.denied.append(event.event_id)
        if len(session.denied) != SESSION_DENIALS:
            return None
        text = (
            f"{SESSION_DENIALS} credential reads refused in the first 5 minutes of session "
            f"{event.principal}"
        )
        return _finding(
            state,
            event,
            "baseline:denied_session_start",
            "high",
            text + ": new credentials being tried out",
            ids=tuple(session.denied),
            first_ms=session.first_ms,
            explanation={"catastrophic": text, "session": event.principal},
        )

    def _refused_start(
        self, state: PrincipalState, event: AuditEvent, session: _Session
    ) -> Finding | None:
        """SESSION_REFUSED_CALLS different calls refused, nearly all it did, as a mature
        workload's session starts."""
        if state.actor_kind != "service" or not state.mature:
            return None
        if session.refusals < SESSION_REFUSED_SHARE * session.calls:
            return None
        return _finding(
            state,
            event,
            "baseline:refused_session_start",
            "high",
            f"{len(session.refused)} different calls refused in the first minutes of session "
            f"{event.principal}, {session.refusals} of its {session.calls} calls: its credentials "
            "in other hands, finding out what they may do",
            ids=tuple(session.refused.values()),
            first_ms=session.first_ms,
            explanation={"refused": sorted(session.refused), "calls": session.calls},
        )

    def _decrypt_burst(self, state: PrincipalState, event: AuditEvent) -> Finding | None:
        """KMS Decrypt calls far beyond the principal's own: secrets being opened in bulk."""
        if event.action != "Decrypt" or not event.source.startswith("kms"):
            return None
        over = _past_own(
            self._decrypts, state, event, event.event_id, DECRYPT_FLOORS, JOB_HIGH * 10
        )
        if over is None:
            return None
        count = over[1]
        return _past_own_finding(
            state,
            event,
            "baseline:decrypt_burst",
            f"{count:g} KMS decrypts in 10 min",
            over,
            "decrypts_10m",
        )

    def _self_grant(
        self, state: PrincipalState, event: AuditEvent, record: Mapping[str, Any], seen: _Seen
    ) -> Finding | None:
        """A principal changing its own permissions. Right after being denied it is privilege
        creep and pages; otherwise (a break-glass role elevating itself) it waits to be
        corroborated."""
        if event.action not in SELF_GRANTS or not _targets_self(event, record):
            return None
        creep = event.event_time_ms - seen.denied_ms <= DENIED_BEFORE_GRANT_MS
        finding = _finding(
            state,
            event,
            "baseline:self_grant",
            "high",
            f"{event.action} on its own identity"
            + (" minutes after being denied: granting itself what it lacked" if creep else ""),
            explanation={"action": event.action, "after_denial": creep},
        )
        return finding if creep else replace(finding, tier="hold")

    def _console(
        self,
        state: PrincipalState,
        event: AuditEvent,
        record: Mapping[str, Any],
        new: Novelty,
        seen: _Seen,
    ) -> Finding | None:
        """A person's console sign-in without MFA from a network it never signed in from."""
        if event.action != "ConsoleLogin" or not state.mature:
            return None
        if str(lookup(record, "additionalEventData", "MFAUsed") or "").lower() != "no":
            return None
        if not new.net or len(state.seen["net"]) <= 1:
            return None  # (this event's network is in the set already: observe() ran)
        finding = _finding(
            state,
            event,
            "baseline:console_new_network",
            "high",
            f"console sign-in without MFA from a network this user never used ({event.source_ip})",
            explanation={"ip": event.source_ip, "network": new.net},
        )
        judged = state.active_days > CONSOLE_KNOWN_DAYS
        if judged and not self.org.shared_network(new.net, state.key):
            return finding
        # a network colleagues work from (the office, the VPN), or a person seen on too few days
        # to know their networks yet (a young install: home on day two, a trip on day three --
        # two quiet days say little about how often one travels): waits for a second sign.
        # (Holding it also for people whose days often bring a new network was tried and undone:
        # in a young install most people have shown two or three networks in their first days,
        # and stolen console passwords followed by a few secret reads stopped paging.) The
        # secrets that session reads next are that second sign (_console_secrets).
        seen.console, seen.console_secrets = (event.source_ip, event.event_time_ms), set()
        return replace(finding, tier="hold")

    def _console_secrets(
        self, state: PrincipalState, event: AuditEvent, names: list[str], seen: _Seen
    ) -> Finding | None:
        """CONSOLE_SECRETS different secrets read within WINDOW_MS of a console sign-in held for
        its new network, from that network: what a stolen password is for (seeds 887, 903: a
        person's console session from a new network read ten secrets in two minutes, fewer
        than their busiest ten minutes, and nothing paged)."""
        ip, at = seen.console
        if event.source_ip != ip or not 0 <= event.event_time_ms - at <= WINDOW_MS:
            return None
        if not _reaches(seen.console_secrets, names, CONSOLE_SECRETS):
            return None
        finding = _finding(
            state,
            event,
            "baseline:console_secrets",
            "high",
            f"{len(seen.console_secrets)} secrets read right after a console sign-in from a "
            f"network this user never used ({ip})",
            explanation={"ip": ip, "secrets": sorted(seen.console_secrets)},
        )
        return replace(finding, tier="hold")  # it pages with the sign-in it follows

    def _client_secrets(
        self, state: PrincipalState, event: AuditEvent, names: list[str], seen: _Seen
    ) -> Finding | None:
        """NEW_CLIENT_SECRETS different secrets read within WINDOW_MS through a client product
        an AI agent or a workload never used (one that rarely sees a new one: _context): its
        credentials taken into another tool (seed 930: a coding agent's session reading 18
        secrets and 9 parameter sets through curl, below its own busiest ten minutes; 927: a
        GitHub Actions role through python-requests). Only clients that are not AWS tooling
        (AWS_TOOLING): a service moved to another SDK, or an agent's first Terraform plan, reads
        its configuration through tooling."""
        client, at = seen.new_client
        if not client or not 0 <= event.event_time_ms - at <= WINDOW_MS:
            return None
        if AWS_TOOLING.match(client):
            return None  # an SDK upgrade, Terraform's first plan, a Lambda extension: tooling
        if client_of(event.user_agent) != client:
            return None
        if not _reaches(seen.client_secrets, names, NEW_CLIENT_SECRETS):
            return None
        return _finding(
            state,
            event,
            "baseline:new_client_secrets",
            "high",
            f"{len(seen.client_secrets)} secrets read within 10 min through {client}, a client "
            f"this {'workload' if state.actor_kind == 'service' else 'agent'} never used",
            explanation={"client": client, "secrets": sorted(seen.client_secrets)},
        )

    def _region(
        self, state: PrincipalState, event: AuditEvent, record: Mapping[str, Any], new_region: bool
    ) -> Finding | None:
        if event.action != "RunInstances":
            return None
        instance_type = str(lookup(record, "requestParameters", "instanceType") or "")
        if not GPU_TYPES.match(instance_type) and not (
            BIG_TYPES.search(instance_type)
            and not self.org.region_in_use(event.region)
            and not self.org.young_account(event.account, event.event_time_ms)
        ):
            return None  # (on an install's first days every region is one nobody used yet)
        seen = self._seen.setdefault(state.key, _Seen())
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
        return _finding(
            state,
            event,
            "baseline:compute_hijack",
            "high",
            f"{instance_type or 'instances'} launched {why} ({event.region})",
            explanation={"region": event.region, "instance_type": instance_type},
        )

    def _context(self, state: PrincipalState, event: AuditEvent, new: Novelty) -> list[Finding]:
        """Notes: a new network (/16) or a new client for a principal that rarely sees one --
        judged by the share of its own days that brought a new one (PrincipalState.novelty_share,
        observe() has counted this one already: today's novelty is not held against it)."""
        fresh: dict[str, str] = {}
        for value, dim, what in ((new.net, "net", "network"), (new.client, "client", "client")):
            if not value or not state.mature or len(state.seen[dim]) < 2:
                continue  # (observe() added this value: a principal with no earlier one)
            if dim == "net" and self.org.shared_network(value, state.key):
                continue  # colleagues work from it: the office or the VPN, not a stranger's
            share = state.novelty_share(dim)
            days = state.active_days - 1
            earlier = state.novel_days.get(dim, 0) - 1  # without today's
            if share is not None and max(earlier, 0) / days <= NOVELTY_DAY_SHARE:
                fresh[dim] = f"a new {what} ({value})"
        if not fresh:
            return []
        if "client" in fresh and state.actor_kind in ("agent", "service"):
            seen = self._seen.setdefault(state.key, _Seen())
            seen.new_client, seen.client_secrets = (new.client, event.event_time_ms), set()
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
        return [
            _finding(
                state,
                event,
                rule,
                severity,
                f"{said} for {summary}",
                explanation={"new": list(fresh.values()), "ip": event.source_ip},
            )
        ]

    def mark_flagged(self, principal: str) -> None:
        seen = self._seen.get(principal)
        if seen is not None and seen.secrets:
            # the secrets a paged window read first are not the principal's own: the same
            # sweep again later is no more familiar than this one was
            window = self._sweeps.get(principal)
            start = window.first_ms() if window.items else None
            for name in [n for n, at in seen.secrets.items() if start is not None and at >= start]:
                del seen.secrets[name]
        self._sweeps.mark_flagged(principal)
        self._denied.mark_flagged(principal)
        self._denied_fast.mark_flagged(principal)
        self._decrypts.mark_flagged(principal)

    def forget(self, principal: str) -> None:
        self._sweeps.forget(principal)
        self._denied.forget(principal)
        self._denied_fast.forget(principal)
        self._new_reads.forget(principal)
        self._decrypts.forget(principal)
        self._seen.pop(principal, None)


# the clients of a person at a browser or the console (detect.features.client_of's first token)
BROWSERS = frozenset({"mozilla", "console.amazonaws.com", "signin.amazonaws.com", "s3console"})


def _function_name(value: Any) -> str:
    """A Lambda function's name from a name, a partial ARN or an ARN (with a version)."""
    if not isinstance(value, str):
        return ""
    name: str = value.split(":function:", 1)[1] if ":function:" in value else value
    return name.partition(":")[0]


def _finding(
    state: PrincipalState,
    event: AuditEvent,
    rule: str,
    severity: str,
    summary: str,
    *,
    ids: tuple[str, ...] = (),
    first_ms: int = 0,
    explanation: Mapping[str, Any],
) -> Finding:
    return Finding(
        principal=state.key,
        actor_kind=state.actor_kind,
        kind="anomaly",
        rule=rule,
        severity=severity,
        score=0.8,
        summary=summary,
        event_ids=ids or (event.event_id,),
        first_event_ms=first_ms or event.event_time_ms,
        last_event_ms=event.event_time_ms,
        explanation=explanation,
    )


def _past_own(
    book: TallyBook,
    state: PrincipalState,
    event: AuditEvent,
    key: str,
    floors: Mapping[str, float],
    job_high: float,
) -> tuple[Tally, float, float] | None:
    """Count `event` (once per `key` in the window) in the principal's tally: (tally, count,
    limit) when the count passes the principal's own threshold, else None."""
    tally = book.get(state.key)
    count = tally.add(event.event_time_ms, event.event_id, key)
    limit = threshold(
        floors, state.actor_kind, tally.high, job_high, learned_days=state.learned_days
    )
    return (tally, count, limit) if count > limit else None


def _past_own_finding(
    state: PrincipalState,
    event: AuditEvent,
    rule: str,
    what: str,
    over: tuple[Tally, float, float],
    feature: str,
    notes: Mapping[str, Any] | None = None,
) -> Finding:
    """A high finding for a tally past the principal's own threshold (see _past_own)."""
    tally, count, limit = over
    return _finding(
        state,
        event,
        rule,
        "high",
        f"{what} (usual up to {tally.high:g}; threshold {limit:g})",
        ids=tally.ids(),
        first_ms=tally.first_ms(),
        explanation={
            feature: {"value": count, "baseline": tally.high, "threshold": limit},
            **_recurrence(tally, count),
            **(notes or {}),
        },
    )


def _recurrence(tally: Tally, count: float) -> dict[str, float]:
    """{"recurs": the earlier flagged day's high} when `count` is back at no greater volume."""
    return {"recurs": tally.paged} if tally.recurs(count) else {}


def _refused_share(state: PrincipalState, event: AuditEvent) -> float:
    """The share of the principal's calls refused in this minute and the one before."""
    minute = event.event_time_ms // 60_000
    calls = errors = 0
    for bucket in reversed(state.buckets):
        if bucket.minute < minute - 1:
            break
        calls, errors = calls + bucket.n, errors + bucket.errors
    return errors / calls if calls else 1.0


def _remembers(seen: _Seen, start_ms: int) -> bool:
    """Which secrets were read before `start_ms` is known: the memory (not kept across a
    restart) began a day or more before, and is not full (new names stopped being recorded)."""
    since = seen.secrets_since
    return since is not None and start_ms - since >= DAY_MS and len(seen.secrets) < MAX_SECRETS


def _familiar(tally: Tally, seen: _Seen) -> bool:
    """All but a tenth of the secrets counted in the window were read before it began."""
    start = tally.first_ms()
    if not _remembers(seen, start):
        return False
    keys = {key for _, _, key in tally.items}
    strange = sum(seen.secrets.get(key, start) >= start for key in keys)
    return strange <= len(keys) // FAMILIAR_SHARE


def _reaches(found: set[str], names: list[str], count: int) -> bool:
    """Add `names` to `found` (kept to `count`); True on the call that brings it to `count`
    (once: a full set takes nothing more)."""
    if not names or len(found) >= count:
        return False
    found.update(names[:count])
    return len(found) >= count


def _secret_names(event: AuditEvent, record: Mapping[str, Any]) -> list[str]:
    """The secrets or decrypted parameters a successful read handed over ([] for other calls)."""
    keys = SECRET_READS.get((event.source.removesuffix(".amazonaws.com"), event.action))
    if keys is None or (event.source.startswith("ssm") and not _decrypted(record)):
        return []
    names = _names(record, keys)
    if not names and event.action == "Decrypt":
        names = list(event.resources[:1])  # the key, when the request did not name it
    return names or [event.action]


def _names(record: Mapping[str, Any], keys: tuple[str, ...]) -> list[str]:
    names: list[str] = []
    for key in keys:
        value = lookup(record, "requestParameters", key)
        if isinstance(value, str) and value:
            names.append(value)
        elif isinstance(value, list):
            names.extend(str(v) for v in value if v)
    return names


def _decrypted(record: Mapping[str, Any]) -> bool:
    value = lookup(record, "requestParameters", "withDecryption")
    return value is True or str(value).lower() == "true"


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
