"""The rule catalogue: load_rules() (red flags + packaged Sigma) and RuleIndex by eventName."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from detect.rules.base import Gate, Rule
from detect.rules.record import base_action, field, record_of
from detect.rules.redflags import RED_FLAGS
from detect.rules.sigma.rule import load_sigma_rules
from ingest.events import AuditEvent

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_EXCLUDED", "RuleIndex", "default_sigma_dir", "load_rules"]

# Packaged Sigma rules that match routine traffic on every account; measured on the invictus-ir
# background set (see tests/unit/detect/rules/test_sigma.py).
# Opt back in with load_rules(exclude=()).
DEFAULT_EXCLUDED = frozenset(
    {
        "sigma:aws_sts_assumerole_misuse",  # every API call made with an assumed role
    }
)


def default_sigma_dir() -> Traversable:
    """The packaged SigmaHQ CloudTrail rules (detect/rules/sigma/rules, DRL 1.1, see its README)."""
    try:
        return files("detect.rules.sigma").joinpath("rules")
    except (NotADirectoryError, TypeError):
        # An editable install that maps `detect` as a namespace package breaks files() on 3.11.
        return Path(__file__).resolve().parent / "sigma" / "rules"


def load_rules(
    *, sigma_dir: Traversable | None = None, exclude: Collection[str] = DEFAULT_EXCLUDED
) -> list[Rule]:
    """The built-in red-flag rules plus the Sigma rules of `sigma_dir` (default: packaged).

    Sigma files that use constructs the matcher does not support are skipped with a warning;
    rules named in `exclude` are left out.
    """
    loaded = load_sigma_rules(sigma_dir if sigma_dir is not None else default_sigma_dir())
    for source, reason in loaded.skipped:
        logger.warning("sigma rule %s skipped: %s", source, reason)
    rules: list[Rule] = [*RED_FLAGS, *loaded.rules]
    kept = [rule for rule in rules if rule.name not in exclude]
    logger.info(
        "loaded %d rules (%d red flags, %d sigma, %d sigma skipped, %d excluded)",
        len(kept),
        len(RED_FLAGS),
        len(loaded.rules),
        len(loaded.skipped),
        len(rules) - len(kept),
    )
    return kept


class RuleIndex:
    """Rules by the eventNames their prefilter admits, so each event meets only its candidates.

    A rule without an `actions` prefilter meets every event -- unless it has a gate
    (detect.rules.base.Gate): then only the events whose field passes it. Each rule still applies
    its own prefilter in `evaluate`; the index only skips calls that could not match, and it keeps
    the rules' original order.
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._rules = list(rules)
        self._always: list[int] = []
        self._gated: list[tuple[int, str, Callable[[str], bool]]] = []
        self._by_action: dict[str, list[int]] = {}
        for position, rule in enumerate(self._rules):
            actions = getattr(rule, "actions", None)
            if actions:
                for name in actions:
                    self._by_action.setdefault(name.casefold(), []).append(position)
                continue
            gate: Gate | None = getattr(rule, "gate", None)
            if gate is None:
                self._always.append(position)
            else:
                self._gated.append((position, *gate))
        self._cache: dict[str, tuple[tuple[Rule, ...], frozenset[int]]] = {}

    def __len__(self) -> int:
        return len(self._rules)

    def candidates(self, event: AuditEvent) -> tuple[Rule, ...]:
        """The rules that could match `event`, in their original order."""
        action = event.action
        found = self._cache.get(action)
        if found is None:
            keys = {action.casefold(), base_action(action).casefold()}
            positions = set(self._always)
            for key in keys:
                positions.update(self._by_action.get(key, ()))
            found = (tuple(self._rules[p] for p in sorted(positions)), frozenset(positions))
            if len(self._cache) < MAX_CACHED_ACTIONS:
                self._cache[action] = found
        opened = [p for p, attribute, test in self._gated if test(getattr(event, attribute))]
        if len(opened) < len(self._gated) and not plain_fields(event):
            opened = [p for p, _, _ in self._gated]  # (a gate reads what the rule would not)
        if not opened:  # (almost every event)
            return found[0]
        return tuple(self._rules[p] for p in sorted(found[1].union(opened)))


def plain_fields(event: AuditEvent) -> bool:
    """Whether the event's fields a gate reads are the record's own text: the record's
    userAgent, sourceIPAddress, awsRegion and userIdentity.arn are strings or absent, and no
    flattened `userIdentity.arn` key stands beside them -- as CloudTrail writes every record.
    Otherwise (a list, a number, a Logstash-flattened key: a hand-built or transformed record)
    the normaliser's text of it is not what the rules read, and every gate opens (review)."""
    record = record_of(event)
    if "userIdentity.arn" in record:
        return False
    identity = record.get("userIdentity")
    if (  # (CloudTrail's own spelling, every field a string: at a few dictionary reads)
        type(identity) is dict
        and type(identity.get("arn")) is str
        and type(record.get("userAgent")) is str
        and type(record.get("sourceIPAddress")) is str
        and type(record.get("awsRegion")) is str
    ):
        return True
    return all(
        value is None or type(value) is str
        for value in (
            field(record, "userIdentity", "arn"),
            field(record, "userAgent"),
            field(record, "sourceIPAddress"),
            field(record, "awsRegion"),
        )
    )


MAX_CACHED_ACTIONS = 65_536  # distinct eventNames remembered by RuleIndex.candidates
