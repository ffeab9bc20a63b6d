"""Record access and table rows shared by the red-flag families (redflags, evasion, exposure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detect.rules.base import Gate, Hit, Matcher, RedFlag
from detect.rules.record import allows, base_action, field, statements

__all__ = [
    "action_name",
    "always",
    "as_text",
    "ec2_items",
    "is_false",
    "is_true",
    "outside_accounts",
    "own_account",
    "param",
    "red_flag",
]


def param(record: Mapping[str, Any], *path: str) -> Any:
    return field(record, "requestParameters", *path)


def action_name(record: Mapping[str, Any]) -> str:
    return base_action(as_text(field(record, "eventName")))


def as_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.casefold() == "false")


def is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.casefold() == "true")


def ec2_items(node: Any) -> list[Mapping[str, Any]]:
    """EC2's {"items": [...]} wrapper or a plain list, as a list of mappings."""
    if isinstance(node, Mapping):
        node = field(node, "items")
    return [n for n in node if isinstance(n, Mapping)] if isinstance(node, list) else []


def always(detail: str, *keys: str) -> Matcher:
    """Every (successful) call is the red flag; the resource is the first of `keys` present."""

    def match(record: Mapping[str, Any]) -> Hit:
        return Hit(next((as_text(v) for k in keys if (v := param(record, k))), ""), detail)

    return match


def _account_of(principal: str) -> str:
    if principal.isdigit():
        return principal
    parts = principal.split(":")
    return parts[4] if len(parts) > 4 and principal.startswith("arn:") else ""


def own_account(record: Mapping[str, Any]) -> str:
    return as_text(
        field(record, "recipientAccountId") or field(record, "userIdentity", "accountId")
    )


def outside_accounts(policy: Any, own: str, *, without_external_id: bool = False) -> list[str]:
    """Accounts other than `own` named as AWS principals in the policy's Allow statements --
    only those of statements with no sts:ExternalId condition, if `without_external_id` (a
    third party's integration is trusted under the external id the vendor hands out: AWS's
    confused-deputy guidance, what Datadog, Wiz or Lacework set up)."""
    outside: set[str] = set()
    for st in statements(policy):
        aws = field(field(st, "Principal"), "AWS") if allows(st) else None
        if without_external_id and _external_id(st):
            continue
        for principal in aws if isinstance(aws, list) else [aws]:
            account = _account_of(principal) if isinstance(principal, str) else ""
            if account and account != own:
                outside.add(account)
    return sorted(outside)


def _external_id(statement: Any) -> bool:
    """The statement's condition requires an sts:ExternalId (any operator; keys are
    case-insensitive in IAM)."""
    condition = field(statement, "Condition")
    if not isinstance(condition, Mapping):
        return False
    return any(
        isinstance(test, Mapping) and any(str(k).lower() == "sts:externalid" for k in test)
        for test in condition.values()
    )


def red_flag(
    name: str,
    severity: str,
    *,
    about: str,
    sources: str,
    actions: str,
    match: Matcher,
    denied: str | None = None,
    gate: Gate | None = None,
) -> RedFlag:
    """One table row: `sources` are service prefixes, `actions` eventNames, space-separated."""
    return RedFlag(
        name=f"redflag:{name}",
        severity=severity,
        description=about,
        sources=frozenset(f"{s}.amazonaws.com" for s in sources.split()),
        actions=frozenset(actions.split()),
        match=match,
        denied_severity=denied,
        gate=gate,
    )
