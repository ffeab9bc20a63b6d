"""SecretReads: credential sweeps against a principal's own days, decrypt bursts, wholesale
reads of a store never read before, and the secrets that corroborate a held console sign-in or a
new client. Part of BehaviourDetector (detect.anomaly.behaviour)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from detect.anomaly.habit import (
    JOB_HIGH,
    MAX_VALUES,
    WINDOW_MS,
    Seen,
    in_console_session,
    make_finding,
    past_own,
    past_own_finding,
)
from detect.anomaly.tally import Tally, TallyBook, threshold
from detect.context.org import OrgMemory
from detect.features import DAY_MS, NON_PROD_NAME_RE, PrincipalState, client_of, store_of
from detect.findings import Finding, evolve
from detect.rules.record import field as lookup
from ingest.events import AuditEvent

__all__ = ["SecretReads", "plain_parameter_names", "remember_plain", "secret_names"]

SWEEP_FLOORS = {"agent": 15, "human": 15, "service": 20}  # distinct secrets read in 10 min
FAST_SWEEP_MS = 120_000  # a sweep this fast is no workload's habit
# ... but on the install's first days (OrgMemory.young_account) nobody's scripts are known yet:
# a person's script reading the configuration it needs reads 16 in a minute and a half (seeds
# 938, 951); stolen keys swept 20 secrets in 4 seconds (Stratus's recordings)
FAST_SWEEP_INSTALL_MS = 30_000
# ... unless every secret in it is named for a non-production environment: a coding agent
# working in dev and staging reads their configuration by the dozen on its first day (seeds
# 797, 801); its own days judge that, and a sweep that reaches anything else is still swift
_NON_PROD = re.compile(NON_PROD_NAME_RE)
# a KMS key as a Decrypt names it: its ARN or its bare id (an alias has a name of its own)
_KMS_KEY = re.compile(
    r"(^|:key/)([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$"
)
DECRYPT_FLOORS = {"agent": 60, "human": 30, "service": 1000}  # KMS Decrypt calls in 10 min
# ... for a person with days of history who never decrypted on any of them: a person's first
# decrypts come one or two at a time (a tool set up, a parameter opened), not by the dozen
# (fresh seed 1492: a data scientist's stolen SSO session decrypted 26 times in a minute from a
# network new to her, after four never-made listings -- each under its own floor; on seeds
# 1445-1501 every person's or agent's first day of decrypts past 10 in 10 minutes was stolen
# credentials, 21-107, and every benign one peaked at 1). Held like any person's decrypt burst.
# Counted on the day of the person's first Decrypt ever -- the call's novelty, whoever made it
# and however it ended, which the trained model keeps across a restart within its training
# window (review: a tally's days start again at a restart) -- their own calls only (S3 opening
# an SSE-KMS object for them logs a Decrypt from s3.amazonaws.com: a read; one on an earlier
# day makes the call known, and the person is judged from 30)
FIRST_DECRYPTS = {"human": 15}
FIRST_DECRYPTS_DAYS = 2  # ... earlier days the person was seen on without a decrypt
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
CONSOLE_SECRETS = 5  # secrets read after a held console sign-in that corroborate it
CONSOLE_SECRETS_KEPT = 64  # ... of which this many are remembered for judging them
STRANGERS_MEMORY_MS = 2 * DAY_MS  # a memory this long says which secrets are new to a person
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
# a secret's full ARN: its name, then "-" and the six characters AWS appends
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[^:]*:\d*:secret:(.+)-[A-Za-z0-9]{6}$")
MAX_SECRETS = 256  # secrets remembered per person or agent (as read before: see _familiar)
FAMILIAR_SHARE = 10  # a sweep is familiar when at most 1 in this many secrets are new
NEW_STORE_READS = 50  # objects read in 10 min from stores the principal first read within ...
NEW_STORE_MS = 3_600_000  # ... this: exfiltration from a bucket or table it never touched


def _non_prod(tally: Tally) -> bool:
    """Every secret or parameter of the sweep is named for a non-production environment. A KMS
    key has no environment in its id: the keys that opened the configuration read say nothing
    either way (fresh seeds 1593, 1588: people on an install's first days reading their dev
    and staging configuration -- its SecureStrings opened under four keys -- paged as sweeps
    that "reached anything else"). More keys than named secrets is a sweep of keys, judged as
    one (seed 808: a rotator's stolen keys; review: one dev parameter beside twenty keys)."""
    keys = names = 0  # (over the window's distinct keys: its items repeat them by the thousand)
    for key in tally.keys:
        if _KMS_KEY.search(key):
            keys += 1
        elif _NON_PROD.search(key):
            names += 1
        else:
            return False  # a production name
    return names >= keys and names > 0


class SecretReads:
    """The checks over what a principal reads (see module)."""

    def __init__(self, org: OrgMemory) -> None:
        self.org = org
        self._sweeps = TallyBook(WINDOW_MS)
        self._new_reads = TallyBook(WINDOW_MS)
        self._decrypts = TallyBook(WINDOW_MS)
        self._first_decrypts = TallyBook(WINDOW_MS)  # on the day below, their own calls only
        self._first_decrypt_day: dict[str, int] = {}  # person -> the day of their first Decrypt

    def sweep(
        self, state: PrincipalState, event: AuditEvent, names: list[str], seen: Seen
    ) -> Finding | None:
        if not names:
            return None
        tally = self._sweeps.get(state.key)
        count = 0.0
        remember(state, event, names, seen)
        for name in names:
            count = tally.add(event.event_time_ms, event.event_id, name)
        limit = threshold(
            SWEEP_FLOORS, state.actor_kind, tally.high, JOB_HIGH, learned_days=state.learned_days
        )
        notes: dict[str, object] = {}
        if count <= limit:
            return None
        young = self.org.young_account(event.account, event.event_time_ms)
        fast_ms = FAST_SWEEP_INSTALL_MS if young else FAST_SWEEP_MS
        fast = event.event_time_ms - tally.first_ms() <= fast_ms
        non_prod = _non_prod(tally)
        if fast and state.actor_kind != "service" and not non_prod:
            # a person or an agent does not open this many different secrets in two minutes:
            # no missing history excuses it (a service starting up may: its own days decide)
            notes["catastrophic"] = f"{count:g} distinct secrets within two minutes"
        finding = past_own_finding(
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
            return evolve(finding, tier="trace")
        # ... and one that reaches only dev and staging configuration waits for a second sign
        # (seed 874: a coding agent reading 16 of the dev and staging parameters it reads all
        # day, where it usually reads 3 in ten minutes, paged twice on its own)
        return evolve(finding, tier="hold") if non_prod else finding

    def new_store_reads(
        self, state: PrincipalState, event: AuditEvent, seen: Seen, new_store: str
    ) -> Finding | None:
        """Bulk reads of a bucket or table the principal never read before: what it usually
        reads, in whatever volume (a quarter-end batch), is its job; a store it never touched,
        read wholesale, is exfiltration."""
        store = store_of(event)
        if not store:
            return None
        if new_store and state.mature and len(seen.new_stores) < MAX_VALUES:
            seen.new_stores.setdefault(store, event.event_time_ms)
        first = seen.new_stores.get(store)
        if first is None or event.event_time_ms - first > NEW_STORE_MS:
            return None
        tally = self._new_reads.get(state.key)
        count = tally.add(event.event_time_ms, event.event_id, event.event_id)
        if count < NEW_STORE_READS:
            return None
        return make_finding(
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

    def first_decrypt(self, state: PrincipalState, event: AuditEvent) -> None:
        """`event` is the principal's first Decrypt ever: for a person with days of history,
        its day is their first day of decrypts (decrypt_burst)."""
        kind, days = state.actor_kind, state.learned_days
        if kind in FIRST_DECRYPTS and state.mature and days >= FIRST_DECRYPTS_DAYS:
            self._first_decrypt_day[state.key] = event.event_time_ms // DAY_MS

    def decrypt_burst(self, state: PrincipalState, event: AuditEvent) -> Finding | None:
        """KMS Decrypt calls far beyond the principal's own: secrets being opened in bulk --
        or, on a person's first day of decrypts ever (first_decrypt), more of their own than
        FIRST_DECRYPTS."""
        if event.action != "Decrypt" or not event.source.startswith("kms"):
            return None
        over = past_own(self._decrypts, state, event, event.event_id, DECRYPT_FLOORS, JOB_HIGH * 10)
        if over is not None:
            return past_own_finding(
                state,
                event,
                "baseline:decrypt_burst",
                f"{over[1]:g} KMS decrypts in 10 min",
                over,
                "decrypts_10m",
            )
        floor = FIRST_DECRYPTS.get(state.actor_kind)
        if floor is None or event.source_ip.endswith(".amazonaws.com"):
            return None
        if self._first_decrypt_day.get(state.key) != event.event_time_ms // DAY_MS:
            return None
        tally = self._first_decrypts.get(state.key)
        count = tally.add(event.event_time_ms, event.event_id, event.event_id)
        if count <= floor:
            return None
        return past_own_finding(
            state,
            event,
            "baseline:decrypt_burst",
            f"{count:g} KMS decrypts in 10 min by a person who never decrypted before",
            (tally, count, float(floor)),
            "decrypts_10m",
            {"first_decrypts": True},
        )

    def console_secrets(
        self, state: PrincipalState, event: AuditEvent, names: list[str], seen: Seen
    ) -> Finding | None:
        """CONSOLE_SECRETS different secrets read within WINDOW_MS of a console sign-in from a
        network the person never used, from that network: what a stolen password or session is
        for (seeds 887, 903: a person's console session from a new network read ten secrets in
        two minutes, fewer than their busiest ten minutes, and nothing paged). It waits for the
        sign-in's own finding where colleagues use that network, the person is too new to know
        theirs, or every secret is one they read before (a trip: their daily secrets from a
        hotel) -- and in the first two cases, where at least half are secrets they read
        before, it only joins an incident; else it pages -- after a sign-in with MFA too,
        which raised nothing (fresh seed 1023: an Identity Center session opened from a
        network neither he nor a colleague ever used read ten secrets in two minutes, four of
        them never read before)."""
        if not in_console_session(seen, event):
            return None
        ip, at = seen.console
        read = seen.console_secrets
        before = len(read)
        if before >= CONSOLE_SECRETS_KEPT:
            return None
        read.update(names[: CONSOLE_SECRETS_KEPT - before])
        fifth = before < CONSOLE_SECRETS <= len(read)
        if not fifth and not (seen.console_traced and len(read) > before and _strangers(seen, at)):
            return None
        seen.console_traced = False  # judged now: the fifth, or (once) the usual five then others
        finding = make_finding(
            state,
            event,
            "baseline:console_secrets",
            "high",
            f"{len(read)} secrets read right after a console sign-in from a network this user "
            f"never used ({ip})",
            explanation={"ip": ip, "secrets": sorted(read)},
        )
        if seen.console_strange and not _known(seen, at):
            return finding
        if not seen.console_strange and _mostly_known(seen, at):
            # a person too new to know their networks (or on one colleagues use), reading the
            # secrets they read anyway: their work from a second place, not a second sign
            # (fresh seeds 1117, 1119: people on their second day, at home, reading their
            # first day's secrets paged with the sign-in they follow). What they read next
            # still counts: the usual five first, then ten never read, is judged again (review)
            seen.console_traced = True
            return evolve(finding, tier="trace")
        return evolve(finding, tier="hold")

    def client_secrets(
        self, state: PrincipalState, event: AuditEvent, names: list[str], seen: Seen
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
        return make_finding(
            state,
            event,
            "baseline:new_client_secrets",
            "high",
            f"{len(seen.client_secrets)} secrets read within 10 min through {client}, a client "
            f"this {'workload' if state.actor_kind == 'service' else 'agent'} never used",
            explanation={"client": client, "secrets": sorted(seen.client_secrets)},
        )

    def mark_flagged(self, principal: str, time_ms: int, seen: Seen | None) -> None:
        if seen is not None and (seen.secrets or seen.plain):
            # the secrets (and parameters read plain) a paged window read first are not the
            # principal's own: the same sweep again later is no more familiar than this one was
            window = self._sweeps.get(principal)
            start = window.first_ms() if window.items else None
            for memory in (seen.secrets, seen.plain):
                for name in [n for n, at in memory.items() if start is not None and at >= start]:
                    del memory[name]
        self._sweeps.mark_flagged(principal, time_ms)
        self._decrypts.mark_flagged(principal, time_ms)

    def forget(self, principal: str) -> None:
        self._sweeps.forget(principal)
        self._new_reads.forget(principal)
        self._decrypts.forget(principal)
        self._first_decrypts.forget(principal)
        self._first_decrypt_day.pop(principal, None)


def remember(state: PrincipalState, event: AuditEvent, names: list[str], seen: Seen) -> None:
    """Remember `names` as read by a person or an AI agent (the only kinds judged by what they
    read before) at `event`'s time, if they were not already."""
    if not names or state.actor_kind not in ("human", "agent"):
        return
    if seen.secrets_since is None:
        seen.secrets_since = event.event_time_ms
    for name in names:
        if name not in seen.secrets and len(seen.secrets) < MAX_SECRETS:
            seen.secrets[name] = event.event_time_ms


def remember_plain(event: AuditEvent, names: list[str], seen: Seen) -> None:
    """Remember parameters a person read without decrypting them (Seen.plain). Apart from the
    secrets: reading names plain must neither make a later decrypting sweep of them familiar
    (review: stolen keys listing thirty parameters plain, then decrypting them all) nor fill
    the secrets' memory."""
    for name in names:
        if name not in seen.plain and len(seen.plain) < MAX_SECRETS:
            seen.plain[name] = event.event_time_ms


def remembers(seen: Seen, start_ms: int) -> bool:
    """Which secrets were read before `start_ms` is known: the memory (not kept across a
    restart) began a day or more before, and is not full (new names stopped being recorded)."""
    since = seen.secrets_since
    return since is not None and start_ms - since >= DAY_MS and len(seen.secrets) < MAX_SECRETS


def _unread_before(
    seen: Seen, names: Iterable[str], since_ms: int, *, plain: bool = False
) -> int | None:
    """How many of `names` were not read before `since_ms` -- decrypted, or with `plain` also
    as parameters read plain (None: that is not known)."""
    if not remembers(seen, since_ms):
        return None
    if not plain:
        return sum(seen.secrets.get(name, since_ms) >= since_ms for name in names)
    return sum(
        seen.secrets.get(name, since_ms) >= since_ms and seen.plain.get(name, since_ms) >= since_ms
        for name in names
    )


def _known(seen: Seen, since_ms: int) -> bool:
    """Every secret read since the console sign-in at `since_ms` was read before it."""
    return _unread_before(seen, seen.console_secrets, since_ms) == 0


def _mostly_known(seen: Seen, since_ms: int) -> bool:
    """At least half the secrets read since the console sign-in at `since_ms` were read before
    it (decrypted, or as parameters read plain)."""
    unread = _unread_before(seen, seen.console_secrets, since_ms, plain=True)
    return unread is not None and 2 * unread <= len(seen.console_secrets)


def _strangers(seen: Seen, since_ms: int) -> bool:
    """After its first five mostly known: twice CONSOLE_SECRETS never read before, and more
    than half of all the session read -- judged only on a memory of STRANGERS_MEMORY_MS or
    more. (Fresh seed 1119: on her second day a person read 18 secrets from home, 10 of them
    not read on her first: after one day most secrets are new to anyone who reads many.)"""
    since = seen.secrets_since
    if since is None or since_ms - since < STRANGERS_MEMORY_MS:
        return False
    unread = _unread_before(seen, seen.console_secrets, since_ms, plain=True)
    return (
        unread is not None
        and unread >= 2 * CONSOLE_SECRETS
        and 2 * unread > len(seen.console_secrets)
    )


def _familiar(tally: Tally, seen: Seen) -> bool:
    """All but a tenth of the secrets counted in the window were read before it began."""
    keys = tally.keys
    strange = _unread_before(seen, keys, tally.first_ms())
    return strange is not None and strange <= len(keys) // FAMILIAR_SHARE


def _reaches(found: set[str], names: list[str], count: int) -> bool:
    """Add `names` to `found` (kept to `count`); True on the call that brings it to `count`
    (once: a full set takes nothing more)."""
    if not names or len(found) >= count:
        return False
    found.update(names[:count])
    return len(found) >= count


def secret_names(event: AuditEvent, record: Mapping[str, Any]) -> list[str]:
    """The secrets or decrypted parameters a successful read handed over ([] for other calls)."""
    keys = SECRET_READS.get((event.source.removesuffix(".amazonaws.com"), event.action))
    if keys is None or (event.source.startswith("ssm") and not _decrypted(record)):
        return []
    names = _names(record, keys)
    if not names and event.action == "Decrypt":
        names = list(event.resources[:1])  # the key, when the request did not name it
    return names or [event.action]


def plain_parameter_names(event: AuditEvent, record: Mapping[str, Any]) -> list[str]:
    """The parameters a successful read returned without decrypting them: no secret handed
    over, but the same parameter read decrypted later is one the reader knew (fresh seed 1117:
    a person's parameters read plain on her first day, decrypted from home on her second)."""
    keys = SECRET_READS.get((event.source.removesuffix(".amazonaws.com"), event.action))
    if keys is None or not event.source.startswith("ssm") or _decrypted(record):
        return []
    return _names(record, keys)


def _names(record: Mapping[str, Any], keys: tuple[str, ...]) -> list[str]:
    names: list[str] = []
    for key in keys:
        value = lookup(record, "requestParameters", key)
        if isinstance(value, str) and value:
            names.append(_secret_name(value))
        elif isinstance(value, list):
            names.extend(_secret_name(str(v)) for v in value if v)
    return names


def _secret_name(value: str) -> str:
    """A Secrets Manager secret by its name, whether the caller named it or gave its full ARN
    (which ends in a hyphen and six random characters AWS appends): one secret, one name. (A
    partial ARN -- no suffix -- of a name ending in a hyphen and six letters or digits loses
    them: "prod/api-tokens" reads as "prod/api". Callers rarely use partial ARNs; the cost is
    two such secrets counted as one.)"""
    match = _SECRET_ARN.match(value)
    return match.group(1) if match else value


def _decrypted(record: Mapping[str, Any]) -> bool:
    value = lookup(record, "requestParameters", "withDecryption")
    return value is True or str(value).lower() == "true"
