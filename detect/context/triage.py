"""Triage: decide each finding's tier (page, hold, note) from its context.

Every choice here trades recall for precision, so each one is a named, documented policy:
a finding leaves triage with the lowest tier any policy gives it, and the policies that
lowered it are recorded in `explanation["triage"]` (shown with the alert when it opens).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from detect.alerts.alert import severity_rank
from detect.anomaly.tally import youth_margin
from detect.context.case import Case
from detect.context.org import OrgMemory, delegated, role_of
from detect.context.peers import PEERS
from detect.context.twins import (
    BACKDOOR_KEYS_MS,
    EXPOSURE_RULES,
    NEW_USER_MS,
    OPENING_RULES,
    SELF_GRANT_ACTIONS,
    administers,
    counterparts,
    elevates_own_user,
    self_target,
    twin_policies,
)
from detect.features import PrincipalState, net_of
from detect.findings import (
    ADMIN_GRANTS,
    ADMIN_POLICY_RULE,
    FOREST_RULE,
    FROM_ELSEWHERE,
    ON_FRESH_NET,
    ON_NOTED_NET,
    READ_VOLUME_RULES,
    TIERS,
    Finding,
    evolve,
)
from detect.rules.record import field, record_of
from ingest.catalogue import HARMFUL_CLASSES
from ingest.events import AuditEvent

__all__ = [
    "EXCUSED_CALLS",
    "FOREST_RULE",
    "Triage",
    "about_the_call",
    "explained_by_excused",
    "may_be_excused",
    "opens_unexcused",
    "judged_without",
]

SIGMA_PREFIX = "sigma:"
CATALOGUED = ("redflag:", "sigma:")  # the rule sets (not the gate's bypass or memo rules)
CONTEXT_RULES = frozenset({"baseline:rate_spike", "baseline:unusual_context"})
EVASION_RULES = frozenset(
    {
        "redflag:alarms_silenced",
        "redflag:trail_weakened",
        "redflag:event_selectors_reduced",
        "redflag:flow_logs_deleted",
        "redflag:dns_query_logs_deleted",
        "redflag:config_recording_stopped",
        "redflag:guardduty_disabled",
        "redflag:securityhub_disabled",
        "redflag:access_analyzer_deleted",
        "redflag:macie_disabled",
    }
)
# rules whose call is nobody's job however often the principal makes the same kind of call: a
# role dressed as a permission set's (IAM refuses changes to the real ones -- fresh seed 1287's
# administrator attaches policies every day, and the attach was held as routine)
NEVER_ROUTINE = frozenset({"redflag:identity_center_role_changed"})
# A managed policy's new default version that allows every action on every resource makes every
# identity it is attached to an administrator, with no Attach call naming any of them -- the
# first of Rhino Security's IAM escalation methods. Administrators grant admin by attaching
# AWS's AdministratorAccess or a permission set, so a person's permission work does not excuse
# it (held-out seeds 928 and 1221: an administrator's SSO session rewrote the policy named for
# him, held as his job, and nothing else followed)
POLICY_REWRITES = frozenset({"CreatePolicyVersion", "SetDefaultPolicyVersion"})
# A role made administrator within the hour it was created, whose trust lets identities (an
# account, a user, a role, an identity provider) sign in, is a new administrator identity: the
# way back in that an attacker holding an admin's session leaves (held-out 1267: an admin's SSO
# session at 02:36, through Terraform, created `ops2` and attached AdministratorAccess 11 s later,
# held as the admin's work). An administrator elevating an existing role (a break-glass drill, a
# team's role) still waits for a second sign
ADMIN_ROLE_AT_BIRTH_MS = 3_600_000
# a person watched at work this long before a first console sign-in is no stranger of the
# install's first days (_password_from_nowhere)
KNOWN_BEFORE_SIGN_IN_MS = 24 * 3_600_000
NO_MFA_RULE = "redflag:console_login_without_mfa"
NO_MFA_RULES = frozenset({NO_MFA_RULE, "sigma:aws_cloudtrail_console_login_success_without_mfa"})
LOGIN_PROFILE_RULE = "redflag:login_profile_for_other_user"
OTHER_USER_CREDENTIALS = frozenset({"redflag:access_key_for_other_user", LOGIN_PROFILE_RULE})
# people get denied all day (a console page asks for more than their role allows): it joins an
# incident as evidence but corroborates nothing -- a stranger's sign-in or network does that
PERSON_NOTED = frozenset({"baseline:denied_burst"})
# roles and permission sets named for reading only (see _read_only_writes)
_READ_ONLY_ROLE = re.compile(r"(?i)(read-?only|view-?only|security-?audit|auditor)")
# a coding agent exploring an account runs into refusals on many different calls; stolen
# credentials probing show it too, with a second sign (a new network, a sweep, a self-grant,
# a fresh session refused credential reads: baseline:denied_session_start pages alone)
AGENT_HELD = frozenset({"baseline:denied_burst"})
# more deletes than usual over six hours, temporary ones included, waits for a second sign;
# lasting resources deleted over hours page alone (baseline:slow_lasting_destruction)
SLOW_DELETES = "baseline:slow_destructive"
# Reading this many times one's own 10-minute high is pulling data out, not working: 10x for
# an AI agent or a person (on seeds 1-10 and 673-689 no person's quiet day passed 4.2x, their
# downloads ran 15-115x; 20x for people missed seeds 805 and 810: 376 and 430 objects in two
# minutes at 12-14x). A batch job's quarter-end surge (8-12x) is a workload's: theirs waits for
# a second sign. `min` judges one who barely reads as if they read this many (a person's 10x is
# then at least 200 objects in 10 minutes).
BULK_RATIO = {"agent": (10.0, 10.0), "human": (10.0, 20.0)}  # kind -> (ratio, min usual)
# refused console sign-ins within the hour from which it is guessing, not a mistyped password:
# from then on, where they come from corroborates them
FAILED_SIGN_INS = 3
HOUR_MS = 3_600_000
# ... and reading half of that for 40 minutes on end is pulling data out slowly (seed 804: a
# person's 2,785 objects over 2.5 hours, ~180 every 10 minutes); a download that big ends
# sooner, and a workload's surge still waits
SUSTAINED_RATIO = {"agent": (5.0, 10.0), "human": (5.0, 20.0)}
SUSTAINED_MS = 40 * 60_000
FIRST_GRANT = "baseline:first_access_grant"  # a way into code or a host the principal never used
FIRST_DISCOVERY = "baseline:first_seen_discovery"  # listing calls the principal never made
ROAMING_NETS = 2  # networks a person came from, past which one more is no news (_listings_...)
FIRST_SENSITIVE = "baseline:new_sensitive_actions"  # first-seen privilege/evasion calls, counted
DESTRUCTIVE_BURST = "baseline:destructive_burst"
PERSON_HELD = frozenset(
    {
        DESTRUCTIVE_BURST,  # any deletes, scratch ones too: lasting ones page alone
        FIRST_SENSITIVE,
        "baseline:privilege_burst",
        FIRST_GRANT,
        "baseline:credential_sweep",
        "baseline:decrypt_burst",
        "isolation_forest",
        "redflag:admin_policy_attached",
        ADMIN_POLICY_RULE,
        "redflag:role_trust_external",
        "baseline:region_spread",  # an audit or clean-up script across regions
    }
)


# An aggregate -- a count over the window, or the forest's score of it -- that crosses its bar
# only because of calls whose own context explained them (each held as a benign twin) is the
# same story told again: held, and like a twin it corroborates nothing (fresh seed 1179: an
# administrator's flow-log clean-up and a new hire's keys made "8 first-seen sensitive actions
# in 10 minutes", which corroborated the excused keys and paged; 1092: a developer's two
# excused log-retention changes lifted the forest's score of a busy hour into a hold that her
# read volume corroborated). The window features such a call raises
# (PrincipalState.excused_counts, features.without) are taken out; reads, deletes and volume
# are not.
EXCUSED_CALLS = "counted calls their own context explained"
_DISCOUNTED = frozenset({"privilege_10m", "evasion_10m", "new_sensitive_10m", "new_actions_10m"})
# tiers an aggregate may still count in: it opens, waits, or -- a note -- corroborates (an
# immature principal's window counts are notes: review, an install's first day paged 1179's
# chores through one)
_COUNTS = ("page", "hold", "note")


LOWEST = TIERS[0]
_RANK = {tier: rank for rank, tier in enumerate(TIERS)}


def explained_by_excused(finding: Finding) -> Finding:
    """`finding` (an aggregate that opens, waits or corroborates) held as explained by the
    excused calls it counted: EXCUSED_CALLS becomes its twin (a page waits)."""
    tier = "hold" if finding.tier == "page" else finding.tier
    because = [*finding.explanation.get("triage", {}).get("because", []), EXCUSED_CALLS]
    explanation = {**finding.explanation, "triage": {"tier": tier, "because": because}}
    return evolve(finding, tier=tier, twin=EXCUSED_CALLS, explanation=explanation)


def may_be_excused(finding: Finding, key: str) -> bool:
    """Whether `finding` is principal `key`'s own window count of calls an excused call
    raises (a baseline check with `{feature: {value, threshold}}` in its explanation), opening
    or waiting, no twin holding it -- worth judging again without the excused calls."""
    return (
        finding.principal == key
        and opens_unexcused(finding)
        and finding.kind == "anomaly"
        and not _DISCOUNTED.isdisjoint(finding.explanation)
    )


def judged_without(finding: Finding, rest: Sequence[float], names: Sequence[str]) -> Finding:
    """A window count's finding (see may_be_excused) judged on `rest`, the window without its
    excused calls (feature values in `names` order): explained when `rest` no longer crosses
    the threshold."""
    if finding.twin or finding.tier not in _COUNTS or finding.kind != "anomaly":
        return finding
    for feature in _DISCOUNTED.intersection(finding.explanation):
        spec = finding.explanation[feature]
        limit = spec.get("threshold") if isinstance(spec, dict) else None
        if limit is not None and rest[names.index(feature)] <= float(limit):
            return explained_by_excused(finding)
    return finding


def opens_unexcused(finding: Finding) -> bool:
    """Whether `finding` may open, wait for or corroborate an alert and no twin holds it (the
    forest's findings worth judging again without the excused calls)."""
    return finding.tier in _COUNTS and not finding.twin


def about_the_call(finding: Finding) -> bool:
    """Whether `finding` judges the call itself (a rule, a first use) -- not the window it ends
    (a count over 10 minutes, the forest's score) nor where it came from (a context note)."""
    if finding.rule == FOREST_RULE or finding.rule.startswith("context:"):
        return False
    return not any(isinstance(v, dict) and "threshold" in v for v in finding.explanation.values())


Policy = Callable[[Case], str | None]  # the tier it lowers the finding to, or None
RuleTest = Callable[[str], bool]  # whether a policy may lower a finding of this rule
ANALYST_VERDICT = "a pattern an analyst marked false positive for this principal"
RECURRING = "as much as paged on an earlier day: the principal's habit, or an incident known"
SCHEDULED = (
    "a young job's drip at the hours, and through the client, it deleted with on each earlier day"
)
PERSON_FIRST_USE = "a person's first use of a sensitive call"
OWN_NO_MFA = "a sign-in without MFA by one who never uses it"
MEDIUM_RULE = "a medium red flag"
AGENT_REFUSED = "an AI agent refused while it explores"
FAILED_SIGN_IN = "a mistyped password"
CONTEXT_ONLY = "volume or novelty alone is not an incident"
SCRATCH_BURST = "deletes outside production only"
WEAK_FOREST = "weak forest score"
ROUTINE = "routine action for this principal"
LESSER_SIGMA = "a generic Sigma rule below its solo level"
MAX_PLANS = 65_536  # (rule, call) pairs whose policies Triage keeps (then it starts over)
# the calls a Triage policy can lower a finding on (the policy's own first test)
_ACTIONS = {FAILED_SIGN_IN: frozenset({"ConsoleLogin"})}
# the rules a Triage policy can lower: for any other, its first tests of the rule return None
# before anything else is asked (_person_first_use's and _routine's other tests of the rule,
# the ones that ask the organisation's memory, are of rules these admit)
_RULES: dict[str, RuleTest] = {
    PERSON_FIRST_USE: lambda rule: (
        rule in PERSON_NOTED
        or rule == FIRST_GRANT
        or rule in PERSON_HELD
        or rule.startswith(("baseline:first_seen", "redflag:"))
    ),
    OWN_NO_MFA: lambda rule: rule in NO_MFA_RULES,
    MEDIUM_RULE: lambda rule: rule.startswith("redflag:"),
    AGENT_REFUSED: lambda rule: rule in AGENT_HELD,
    CONTEXT_ONLY: lambda rule: (
        rule in CONTEXT_RULES
        or rule == "baseline:bulk_data_read"
        or rule == SLOW_DELETES
        or rule.startswith("context:")
    ),
    SCRATCH_BURST: lambda rule: rule in (SLOW_DELETES, DESTRUCTIVE_BURST),
    WEAK_FOREST: lambda rule: rule == FOREST_RULE,
    ROUTINE: lambda rule: rule.startswith(CATALOGUED),
    LESSER_SIGMA: lambda rule: rule.startswith(SIGMA_PREFIX),
}


def _rule_test(name: str, skip: frozenset[str] | None) -> RuleTest:
    """Whether policy `name` may lower a finding of a rule (a twin's `skip_rules` it does not:
    twins.held)."""
    test = _RULES.get(name)
    if test is not None:
        return test
    if skip:
        return lambda rule: rule not in skip
    return _any_rule


def _any_rule(rule: str) -> bool:  # noqa: ARG001 - a policy that judges every rule
    return True


class Triage:
    """Assigns tiers to findings (see detect.findings.Finding.tier).

    Parameters
    ----------
    org : the organisation's memory the twin policies consult (detect.context.org).
    sigma_solo_level : the lowest Sigma level that pages alone; lesser ones are held for
        corroboration, and "low" Sigma rules only note ("low" here turns holding off).
    false_positive : (principal key, rule) -> whether an analyst marked that pattern a false
        positive (detect.alerts.feedback.FalsePositives); such findings are held as explained.
    """

    def __init__(
        self,
        *,
        org: OrgMemory | None = None,
        sigma_solo_level: str = "high",
        false_positive: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.solo_rank = severity_rank(sigma_solo_level)
        self.org = org if org is not None else OrgMemory()
        self.false_positive = false_positive if false_positive is not None else _never
        twins = (
            *twin_policies(self.org),
            (ANALYST_VERDICT, self._marked_false_positive),
            (RECURRING, self._recurring),
            (SCHEDULED, self._scheduled),
        )
        self.twin_names = frozenset(name for name, _ in twins)
        self.policies: tuple[tuple[str, Policy], ...] = (
            *twins,
            (PERSON_FIRST_USE, self._person_first_use),
            (OWN_NO_MFA, self._own_no_mfa),
            (MEDIUM_RULE, self._medium_rule),
            ("an AWS service acting on its own schedule", _aws_service),
            ("a call a service made on another principal's behalf", _on_behalf),
            ("a principal whose baseline is still being learned", self._immature),
            (AGENT_REFUSED, _agent_refused),
            (FAILED_SIGN_IN, self._failed_sign_in),
            (CONTEXT_ONLY, _context_only),
            (SCRATCH_BURST, _scratch_burst),
            (WEAK_FOREST, _weak_forest),
            (ROUTINE, self._routine),
            (LESSER_SIGMA, self._lesser_sigma),
        )
        # with the calls each is made for (twins.held's `actions`; None = any) and the rules it
        # judges: a policy has nothing to say about another call or rule (it returns None, and
        # asks the organisation's memory nothing), and skipping it spares most of the calls
        self._plan: tuple[tuple[str, Policy, frozenset[str] | None, RuleTest], ...] = tuple(
            (
                name,
                policy,
                getattr(policy, "actions", None) or _ACTIONS.get(name),
                _rule_test(name, getattr(policy, "skip_rules", None)),
            )
            for name, policy in self.policies
        )
        self._plans: dict[tuple[str, str], tuple[tuple[str, Policy], ...]] = {}

    def assess(
        self, finding: Finding, event: AuditEvent, state: PrincipalState, *, routine: bool
    ) -> Finding:
        """The finding with its tier lowered by every policy that applies (never raised)."""
        if finding.tier == LOWEST:
            return finding  # (nothing lowers it further)
        case = Case(finding, event, state, routine)
        tier, reasons, twin = finding.tier, [], ""
        rank = _RANK[tier]
        plan = self._plans.get((finding.rule, event.action))
        if plan is None:
            plan = self._plan_for(finding.rule, event.action)
        for name, policy in plan:
            lowered = policy(case)
            if lowered is not None and _RANK[lowered] < rank:
                tier, rank = lowered, _RANK[lowered]
                reasons.append(name)
                twin = twin or (name if name in self.twin_names else "")
                if tier == LOWEST:
                    break  # (no later policy can lower it again: none would add a reason)
        if tier == finding.tier:
            return finding
        explanation = {**finding.explanation, "triage": {"tier": tier, "because": reasons}}
        return evolve(finding, tier=tier, explanation=explanation, twin=twin)

    def _plan_for(self, rule: str, action: str) -> tuple[tuple[str, Policy], ...]:
        """The policies, in order, that may lower a finding of `rule` on a call `action`: the
        others return None for it (see _plan)."""
        plan = tuple(
            (name, policy)
            for name, policy, actions, judges in self._plan
            if (actions is None or action in actions) and judges(rule)
        )
        if len(self._plans) >= MAX_PLANS:
            self._plans.clear()
        self._plans[(rule, action)] = plan
        return plan

    def _recurring(self, case: Case) -> str | None:
        """A volume that paged on an earlier day and is back, no bigger, on another: a job that
        paged on its first days (a flagged day teaches the baseline nothing new), or a pattern
        already paged. It waits for a sign that is not volume (see detect.anomaly.tally) --
        unless a sign that someone else holds the credentials paged in the last week and its
        alert was not resolved (OrgMemory.compromised: a rule such as an attack tool's client,
        a workload's credentials used elsewhere, a session refused from its first minutes):
        the volume of that day back again is the
        intruder back, not a habit (fresh seed 1087: a CI role's stolen session probed
        twenty-odd calls through Pacu and paged; the next day the same probe, through the
        role's own SDK, then sixteen secrets in ten seconds, waited as a recurrence)."""
        return self._holds_volume(case, "recurs")

    def _scheduled(self, case: Case) -> str | None:
        """A young job's drip on its schedule waits as a recurrence does
        (detect.anomaly.destruction.SCHEDULE_DAYS)."""
        return self._holds_volume(case, "on_schedule")

    def _holds_volume(self, case: Case, note: str) -> str | None:
        finding = case.finding
        if not finding.explanation.get(note):
            return None
        return None if self.org.compromised(finding.principal, case.event.event_time_ms) else "hold"

    def _failed_sign_in(self, case: Case) -> str | None:
        """One or two refused console sign-ins are a mistyped password, wherever they came
        from: the rule on failed sign-ins only joins an alert as evidence then (fresh seed 1098:
        one failed sign-in from a network the person never used paged, the generic Sigma rule
        corroborated by the new network). From the FAILED_SIGN_INS-th refusal within the hour it
        is someone guessing, and the network it comes from corroborates it (review: thirty
        guesses from a network never used must page)."""
        event = case.event
        if event.action != "ConsoleLogin" or case.finding.rule.startswith("context:"):
            return None
        if field(field(record_of(event), "responseElements"), "ConsoleLogin") != "Failure":
            return None
        earlier = self.org.failed_sign_ins(event.principal_key, event.event_time_ms, HOUR_MS)
        return "trace" if earlier + 1 < FAILED_SIGN_INS else None

    def _marked_false_positive(self, case: Case) -> str | None:
        finding = case.finding
        return "hold" if self.false_positive(finding.principal, finding.rule) else None

    def _person_first_use(self, case: Case) -> str | None:
        """As _person_first_use_policy, but a new administrator (_makes_administrator) and keys
        or a password made for a colleague page for people too -- administrators included."""
        if self._pages_for_people(case) or self._makes_administrator(case):
            return None
        return _person_first_use_policy(case)

    def _makes_administrator(self, case: Case) -> bool:
        """Admin granted to a user created within the week (a backdoor account, not
        onboarding: a new hire joins a group) or to a role created within the hour
        (ADMIN_ROLE_AT_BIRTH_MS), or a managed policy rewritten to allow everything
        (POLICY_REWRITES): a new administrator, which no one's permission work nor routine
        excuses."""
        if case.finding.rule not in ADMIN_GRANTS:
            return False
        event = case.event
        at = event.event_time_ms
        params = field(record_of(event), "requestParameters")
        if event.action in POLICY_REWRITES:
            # (a policy already seen allowing everything makes nobody new an administrator:
            # review -- an edit of a break-glass policy's other statements)
            since = self.org.admin_policy_since(str(field(params, "policyArn") or ""))
            return since is None or since >= at
        if event.action in (
            "AttachUserPolicy",
            "PutUserPolicy",
            "AddUserToGroup",  # (the administrators' group: see privileged_group)
        ):
            birth = self.org.user_born(event.account, str(field(params, "userName") or ""), at)
            return birth is not None and at - birth[0] < NEW_USER_MS
        if event.action in ("AttachRolePolicy", "PutRolePolicy"):
            made = self.org.role_born(event.account, str(field(params, "roleName") or ""), at)
            # a role only AWS services may assume is an execution role (`cdk bootstrap`'s,
            # a build project's), not an identity anyone signs in as (review)
            return made is not None and at - made[0] < ADMIN_ROLE_AT_BIRTH_MS and made[2]
        return False

    def _own_no_mfa(self, case: Case) -> str | None:
        """A console sign-in without MFA by a person who signed in without it before: they have
        no MFA device, so this one says nothing new and corroborates nothing -- where it came
        from still may (baseline:console_new_network; seeds 841, 846, 849: a new network and
        'no MFA' counted as two signs for one benign sign-in)."""
        if case.finding.rule not in NO_MFA_RULES:
            return None
        event = case.event
        return (
            "trace"
            if self.org.signed_in_without_mfa(
                event.principal_key, event.event_time_ms, case.state.seen["signin"]
            )
            else None
        )

    def _immature(self, case: Case) -> str | None:
        """_immature -- and on the install's first days (OrgMemory.young_account) reading more
        than a principal with not one day learned usually does, or making sensitive calls it
        was never seen making, is no sign at all, even beside another (deleting more still
        is): it only joins an open alert (fresh seed 1216: an IAM user's first sign-in without
        MFA on the day Leash was installed, held, paged when a quarter-hour of his usual work
        read 16 secrets against a usual of nothing; fresh seed 1336: an administrator's edit of
        a vendor's integration role on the install's first morning, held as the integration's,
        paged beside her "first" PutRolePolicy from the office ten minutes before -- every call
        is a first one on that day; see _first_calls_at_work). In an account Leash has watched
        for longer, a principal with no day of its own is new to the account (a backdoor user,
        one back after months away), and its reads and first calls still corroborate
        (review)."""
        if self._listings_new_since_yesterday(case):
            return "trace"
        tier = _immature(case)
        if (
            tier == "note"
            and (case.finding.rule in READ_VOLUME_RULES or self._first_calls_at_work(case))
            and not case.state.learned_days
            and self.org.young_account(case.event.account, case.event.event_time_ms)
        ):
            return "trace"
        return tier

    def _listings_new_since_yesterday(self, case: Case) -> bool:
        """A person's held first-seen listings (baseline:first_seen_discovery) on the
        install's first days (young_account), with at most one learned day of their own: "never
        made" says only "not made on the one day Leash watched" (fresh seed 1588: a person on
        the install's second night listed ten things she had not listed on the first, and
        corroborated her own held read of her dev and staging configuration into a critical
        page -- she had come from four networks on that day, so a fifth was no news). From a
        network new to them (ON_FRESH_NET), only where colleagues work or by one who came from
        more than ROAMING_NETS networks: a person seen from one network listing from another is
        stolen credentials taking stock on the install's second day (review), and so are
        listings from a network a context note called new to them (ON_NOTED_NET); those wait and
        corroborate, and from a network and a client both new that nobody here works from they
        page as before. Later, or with two days learned, every one waits."""
        finding, event = case.finding, case.event
        return (
            finding.rule == FIRST_DISCOVERY
            and finding.tier == "hold"
            and not finding.explanation.get(ON_NOTED_NET)
            and finding.actor_kind == "human"
            and case.state.learned_days < 2
            and self.org.young_account(event.account, event.event_time_ms)
            and (
                not finding.explanation.get(ON_FRESH_NET)
                or len(case.state.seen["net"]) > ROAMING_NETS
                or self.org.network_of_others(net_of(event.source_ip), event.principal_key)
            )
        )

    def _first_calls_at_work(self, case: Case) -> bool:
        """First-seen sensitive calls (FIRST_SENSITIVE) from a network colleagues work from (the
        office, the VPN) -- not from one nobody here uses: a session stolen on the install's
        first day, backdooring a role from a Tor exit, has only these notes to corroborate its
        held red flags (review)."""
        event = case.event
        return case.finding.rule == FIRST_SENSITIVE and self.org.network_of_others(
            net_of(event.source_ip), event.principal_key
        )

    def _medium_rule(self, case: Case) -> str | None:
        """A medium red flag (keys for another user, a console sign-in without MFA, an ACL open
        to the world) is a reason to look, not to page: it pages when something else
        corroborates -- except keys or a password made for a colleague (see
        _colleague_credentials). A person new to Leash (a fresh install) has no history to
        corroborate with: theirs page -- except a console sign-in without MFA where several
        colleagues sign in that way (the organisation's habit, not a stranger's sign), or where
        Leash has watched the account for under two days and the sign-in came from a browser:
        on the install's first days every person is a stranger, and one who never uses MFA
        says nothing new (a script signing in to the console still pages). (Holding a
        stranger's that comes from a network colleagues use was tried and undone: the
        identities an attacker creates share the attacker's network too.)"""
        finding = case.finding
        if not (finding.rule.startswith("redflag:") and finding.severity in ("low", "medium")):
            return None
        if self._pages_for_people(case):
            return None
        stranger = finding.actor_kind == "human" and not case.state.mature
        if not stranger:
            return "hold"
        event = case.event
        if finding.rule == NO_MFA_RULE and (
            self.org.signs_in_without_mfa(event.principal_key, event.event_time_ms)
            or (self.org.young_account(event.account, event.event_time_ms) and _from_browser(event))
        ):
            return "hold"
        return None

    def _pages_for_people(self, case: Case) -> bool:
        return (
            self._without_usual_mfa(case)
            or self._colleague_credentials(case)
            or self._grants_stranger(case)
            or self._backdoor_keys(case)
            or _machine_console_password(case)
            or self._password_from_nowhere(case)
        )

    def _routine(self, case: Case) -> str | None:
        """_routine_rule -- but a sign-in without MFA by one who always used it is not the
        sign-in they make every day (fresh seed 1108: it was traced as "routine")."""
        if case.finding.rule in NO_MFA_RULES and self._breaks_mfa_habit(case):
            return None
        if self._backdoor_keys(case):
            return None  # (held-out 1268: a key rotator makes keys daily, for users that exist)
        if case.finding.actor_kind != "service" and self._makes_administrator(case):
            return None  # (held-out 1267: an admin who attaches policies every day; a
            # pipeline creating admin roles every run keeps its routine)
        return _routine_rule(case)

    def _password_from_nowhere(self, case: Case) -> bool:
        """A person Leash watched at work a day or more before (KNOWN_BEFORE_SIGN_IN_MS) signing
        in to the console for the first time, without MFA, from a network nobody in the
        organisation works from, the person included -- past the account's first days
        (young_account) and where signing in without MFA is no habit (signs_in_without_mfa).
        The person's days were watched, from elsewhere, and the password was typed somewhere
        new: a sign-in without MFA waits for a second sign, and a few days in the person's
        networks are too new to give one (fresh seeds 1367, 1381, stop 50's 1331: an IAM user's
        first console sign-in from an unknown network, a minute surveying five or six services,
        then his usual secrets; nothing paged). A new hire's first sign-in (nobody watched them
        before), one from a colleague's network, and any on the install's first days still wait
        (review: on day two a first sign-in from home is every network's first); so do all
        while the network memory is younger than a day (a restart, a partition handed over:
        every network is one nobody used)."""
        event = case.event
        if case.finding.rule != NO_MFA_RULE:
            return False
        key, at = event.principal_key, event.event_time_ms
        return (
            self.org.known_for_ms(key, at) >= KNOWN_BEFORE_SIGN_IN_MS
            and not self.org.young_account(event.account, at)
            and not self.org.signed_in_before(key, at, case.state.seen["signin"])
            and self.org.network_nobody_uses(net_of(event.source_ip), at, KNOWN_BEFORE_SIGN_IN_MS)
            and not self.org.signs_in_without_mfa(key, at)
        )

    def _without_usual_mfa(self, case: Case) -> bool:
        """A console sign-in without MFA by a person who always used it (org.always_mfa): the
        password alone, in the hands of someone without the device. Fresh seed 1108: a person
        who signed in with MFA twelve times over five days signed in without it at 22:00 from
        a network never used and read four secrets; it waited for a second sign as any known
        person's sign-in without MFA does."""
        return case.finding.rule == NO_MFA_RULE and self._breaks_mfa_habit(case)

    def _breaks_mfa_habit(self, case: Case) -> bool:
        return self.org.always_mfa(case.event.principal_key, case.event.event_time_ms)

    def _backdoor_keys(self, case: Case) -> bool:
        """Access keys for an IAM user created within the hour and not yet seen at work, by a
        person whose work was never permissions (twins.administers): a user made to be a way
        back in, not a service user an administrator sets up nor a new hire already working
        (seed 870: a security auditor's session creating 'aws-support-sync' and its key within
        a minute). By a workload, for the first user it ever made itself: a provisioning
        pipeline makes users and their keys as its job, other workloads make none (held-out
        1268: a key rotator's session made `admin-backup` and its key 11 s apart -- its routine
        is keys for users that are there)."""
        event = case.event
        if case.finding.rule != "redflag:access_key_for_other_user":
            return False
        kind = case.finding.actor_kind
        if kind not in ("human", "service") or (kind == "human" and administers(case)):
            return False
        user = field(field(record_of(event), "requestParameters"), "userName")
        if not isinstance(user, str) or self.org.active_person(
            event.account, user, event.event_time_ms
        ):
            return False  # a new hire already at work: onboarding (the new-user twin's call)
        birth = self.org.user_born(event.account, user, event.event_time_ms)
        if birth is None or event.event_time_ms - birth[0] >= BACKDOOR_KEYS_MS:
            return False
        first = self.org.first_user_made_by(event.principal_key)
        return kind == "human" or (
            birth[1] == event.principal_key and (first is None or first >= birth[0])
        )

    def _colleague_credentials(self, case: Case) -> bool:
        """An access key or a console password made for another IAM user who works here as a
        person (Leash saw them act): a way into a colleague's identity, not onboarding (a new
        user has not acted yet) or rotating a service user's keys. It pages alone. A password
        set with a reset required (a helpdesk reset) is a low finding and still waits, and so
        do a new hire's in their first week."""
        finding = case.finding
        if finding.rule not in OTHER_USER_CREDENTIALS or finding.severity != "medium":
            return False
        user = field(field(record_of(case.event), "requestParameters"), "userName")
        at = case.event.event_time_ms
        if not isinstance(user, str) or not self.org.active_person(case.event.account, user, at):
            return False
        # a new hire's first days: keys for the CLI are set-up
        birth = self.org.user_born(case.event.account, user, at)
        return birth is None or at - birth[0] >= NEW_USER_MS

    def _grants_stranger(self, case: Case) -> bool:
        """A bucket, snapshot, image or role opened to an account the organisation never dealt
        with (no trust, share or role assumption named it before), in an account Leash has
        watched for two days or more: the way data or access leaves for an attacker's account.
        It pages alone -- unless a person whose job is permissions (see twins.administers) made it
        (a new vendor's account; their grants wait for a second sign) or Leash is too new to
        know the organisation's counterparts."""
        event = case.event
        if case.finding.rule not in OPENING_RULES:
            return False
        if self.org.young_account(event.account, event.event_time_ms):
            return False
        if case.finding.actor_kind == "human" and administers(case):
            return False
        at = event.event_time_ms
        return any(not self.org.known_account(a, at) for a in counterparts(case))

    def _lesser_sigma(self, case: Case) -> str | None:
        """Sigma's own scale: low is a hint, medium "review manually", high "should alert"."""
        finding = case.finding
        if finding.kind != "rule" or not finding.rule.startswith(SIGMA_PREFIX):
            return None
        if finding.severity == "low":
            return "trace"
        return "hold" if severity_rank(finding.severity) < self.solo_rank else None


def _machine_console_password(case: Case) -> bool:
    """A console password for another user, set by a workload or an AI agent without a reset:
    a console password is for a person at a browser, and software that sets one it knows
    hands that person's sign-in to whoever holds the software's credentials (seed 1076: a
    key-rotation role that had only ever rotated service users' keys gave `svc-legacy` a
    password). Provisioning that onboards people requires a reset: a low finding that waits.
    An UpdateLoginProfile that leaves the reset flag out keeps the one the profile had (a
    rotation job's new password for an account set up with one), so only one that turns the
    reset off counts."""
    finding = case.finding
    if not (
        finding.rule == LOGIN_PROFILE_RULE
        and finding.severity == "medium"
        and finding.actor_kind in ("service", "agent")
    ):
        return False
    if case.event.action != "UpdateLoginProfile":
        return True
    reset = field(field(record_of(case.event), "requestParameters"), "passwordResetRequired")
    return reset is False or (isinstance(reset, str) and reset.lower() == "false")


def _agent_refused(case: Case) -> str | None:
    """An AI agent's burst of refusals waits for a second sign (AGENT_HELD): on fresh seeds
    such bursts opened 23 false alerts (15 with nothing else) against 26 true ones (1 alone).
    Not one past the one-minute floor: a model waits seconds for each answer, so fifteen
    different calls refused within a minute is a script enumerating what the agent's
    credentials may do (seeds 789, 800: CI agents' stolen sessions, 17 refusals in 20 s)."""
    finding = case.finding
    if finding.actor_kind != "agent" or finding.rule not in AGENT_HELD:
        return None
    return None if finding.explanation.get("denied_fast") else "hold"


def _from_browser(event: AuditEvent) -> bool:
    """A console sign-in made by a web browser (every browser's user agent names Mozilla); one
    that is not is a script or tool driving the sign-in page with a password."""
    return event.user_agent.startswith("Mozilla/")


def _weak_forest(case: Case) -> str | None:
    """A forest score just over its threshold is a hint, not evidence."""
    finding = case.finding
    return "trace" if finding.rule == FOREST_RULE and finding.severity == "low" else None


def _never(principal: str, rule: str) -> bool:  # noqa: ARG001 - no analyst verdicts
    return False


def _routine_rule(case: Case) -> str | None:
    """A rule on an action the (established) principal performs anyway: its benign twin is the
    principal's job (key rotation, releases, security administration). A workload or an agent
    granting permissions to itself is not: a deploy role attaches policies to its app's roles,
    not AdministratorAccess to its own."""
    finding = case.finding
    if finding.kind != "rule" or not case.routine:
        return None
    if not finding.rule.startswith(CATALOGUED) and finding.rule not in ADMIN_GRANTS:
        return None
    if finding.rule in NEVER_ROUTINE:
        return None
    if (
        finding.actor_kind != "human"
        and case.event.action in SELF_GRANT_ACTIONS
        and self_target(case)
    ):
        return None
    return "trace" if finding.severity in ("low", "medium") else "hold"


def _aws_service(case: Case) -> str | None:
    """AWS's own service principals (scheduled secret deletion, scale-in, backup expiry) act on
    AWS's schedule: their volume is not an incident (their red flags still count)."""
    if case.finding.kind == "anomaly" and _is_aws_service(case.finding.principal):
        return "trace"
    return None


def _person_first_use_policy(case: Case) -> str | None:
    """People try things, read a lot, get denied and change permissions as part of their
    work: a person's first use of a sensitive call, a burst of reads, a permission change, and
    any rule below critical wait for corroboration -- a compromised person shows more than one
    sign (a new network, a sweep, then the damage); a burst of refusals only traces.
    Destruction of lasting resources still pages alone; for agents and workloads all of these
    page alone."""
    finding = case.finding
    if finding.actor_kind != "human" or finding.explanation.get("catastrophic"):
        return None
    if finding.rule in PERSON_NOTED:
        return "trace"
    if finding.explanation.get("host_or_production"):
        return None  # a shell on a host, or new code in production, pages for people too
    if finding.rule == FIRST_GRANT:
        return "trace"  # new code outside production is a developer's work (seeds 806, 812)
    if finding.rule in ADMIN_GRANTS and (not administers(case) or elevates_own_user(case)):
        return None  # admin granted by a person who never did permission work (not their
        # job), or by anyone to the IAM user they work with every day (not a drill)
    if _read_only_writes(case):
        return None  # a read-only role changing things: no first use of a person's work
    if finding.explanation.get(FROM_ELSEWHERE):
        return None  # keys taking stock from a network and a client both new: its own sign
    held = finding.rule in PERSON_HELD or finding.rule.startswith("baseline:first_seen")
    if held and (finding.kind == "anomaly" or case.state.mature):
        return "hold"
    if finding.rule in EXPOSURE_RULES or finding.rule in EVASION_RULES:
        return None  # data opened to the outside, monitoring turned off: twins are recognised
        # by their context instead (a temporary target, an unused region, a known account)
    if finding.rule.startswith("redflag:") and case.state.mature:
        # (a stranger's red flags page; Sigma rules follow their own level: _lesser_sigma)
        return "hold" if finding.severity != "critical" else None
    return None


def _read_only_writes(case: Case) -> bool:
    """A session of a role or permission set named read-only (ReadOnlyAccess, ViewOnlyAccess,
    SecurityAudit, an auditors' role) that deleted something, or changed monitoring or
    permissions, and succeeded: AWS's read-only policies allow none of these, so the role was
    given more than its name says or the call was not its owner's -- either way no person's
    first try of their work (fresh seeds 1214, 1226: an audit and a read-only session deleting
    CloudWatch alarms, held as a person's first use of a sensitive call)."""
    event = case.event
    if event.error_code or event.action_class not in HARMFUL_CLASSES:
        return False
    role = role_of(event.principal) if ":assumed-role/" in event.principal else None
    return role is not None and _READ_ONLY_ROLE.search(role[1]) is not None


def _on_behalf(case: Case) -> str | None:
    """CloudFormation deleting a stack's resources under its role does what the principal that
    deleted the stack asked: the finding belongs to that principal (the engine counts the
    deletions for it), not to the role."""
    event = case.event
    if case.finding.principal == event.principal_key and delegated(event):
        return "trace"
    return None


def _scratch_burst(case: Case) -> str | None:
    """An AI agent's or a workload's burst of deletes, every one of them of dev, staging or
    temporary things and none of a resource meant to last (objects, items, a dev stack): its
    busiest hour of clean-up, not destruction (fresh seeds 1129, 1138: coding agents deleting
    11 and 22 dev and staging objects in ten minutes, two to three times their usual, paged
    critical). It waits for a second sign, as a person's burst does (PERSON_HELD). One
    production-named or lasting delete in the window, and it pages as before.

    Deleting more than usual over six hours (SLOW_DELETES, held on its own) of nothing but such
    things is no sign at all, whoever does it: it only notes (fresh seed 1235: a coding agent's
    16 dev and staging objects in two hours, its usual up to 6, paged once its runner moved to a
    new network -- the clean-up day and the new network, two weak notes of nothing)."""
    rule = case.finding.rule
    if rule == SLOW_DELETES:
        return "note" if case.state.slow_scratch() else None
    if rule != DESTRUCTIVE_BURST or case.finding.actor_kind == "human":
        return None
    return "hold" if case.state.scratch_window() else None


def _immature(case: Case) -> str | None:
    """A fresh install, a new role, a new hire: without MATURE_DAYS of its own history a
    principal's "unusual" means nothing yet, so anomaly findings only note -- unless the
    detector marked them catastrophic (no history excuses them), or the principal did more
    than any of its mature peers ever does (detect.context.peers: a new CI role of a family of
    them, one person of a permission set; baseline.PEERS), where their history speaks for its."""
    finding = case.finding
    if finding.kind != "anomaly" or case.state.mature:
        return None
    if finding.explanation.get("catastrophic"):
        return None
    peers = finding.explanation.get(PEERS)
    return None if isinstance(peers, dict) and peers.get("beyond") else "note"


def _context_only(case: Case) -> str | None:
    """A busy hour, or new-looking context on its own, is how work looks; it corroborates.
    Deleting more than usual over six hours (a clean-up day) and reading more than usual from
    the stores one always reads (a quarter-end batch) wait for corroboration -- unless an AI
    agent or a person reads BULK_RATIO times their own high, or SUSTAINED_RATIO times it
    for SUSTAINED_MS on end; wholesale reads of a store the
    principal never read page on their own (baseline:bulk_read_new_store)."""
    rule = case.finding.rule
    if rule in CONTEXT_RULES:
        return "trace"
    if rule == "baseline:bulk_data_read":
        return None if _bulk_beyond_own(case.finding, case.state.learned_days) else "hold"
    if rule == SLOW_DELETES:
        return "hold"
    return "note" if rule.startswith("context:") else None


def _bulk_beyond_own(finding: Finding, learned_days: int) -> bool:
    """Reads far past the principal's own high -- widened by the youth margin while few of its
    days are learned: one day's high is a low estimate of anyone's usual (fresh seed 1100: an
    analyst's second day of Athena work read 437 objects in ten minutes, 19 times her first
    day's busiest ten minutes, and paged on a baseline day)."""
    reads = finding.explanation.get("data_reads_10m")
    if not isinstance(reads, dict):
        return False
    value, usual = float(reads.get("value") or 0.0), float(reads.get("baseline") or 0.0)
    sustained = finding.explanation.get("sustained_ms")
    bars = [BULK_RATIO.get(finding.actor_kind)]
    if isinstance(sustained, int) and sustained >= SUSTAINED_MS:
        bars.append(SUSTAINED_RATIO.get(finding.actor_kind))
    margin = youth_margin(learned_days)
    return any(bar and value >= bar[0] * margin * max(usual, bar[1]) for bar in bars)


def _is_aws_service(principal: str) -> bool:
    return principal.endswith(".amazonaws.com") or principal == "aws-service"
