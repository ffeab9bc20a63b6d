"""Webhook routing: which endpoints hear which events (LEASH_WEBHOOK_ROUTES, YAML).

Routes are tried in order; the first whose conditions all hold sends the event to its
endpoints. An event no route matches goes to LEASH_WEBHOOK_URLS (none: it is dropped, as
without routes). Conditions compare the event's type and, where the payload has them, the
alert's severity, kind, rule and actor kind, and the principal:

```yaml
routes:
  - name: on-call                       # critical agent alerts page on-call
    endpoints: ["https://events.pagerduty.example/leash"]
    events: ["alert.opened"]            # globs on the event type (default: every event)
    min_severity: critical              # low | medium | high | critical
    actor_kinds: [agent, service]
  - name: security-channel              # everything else about alerts goes to a channel
    endpoints: ["slack+https://hooks.slack.com/services/T000/B000/XXXX"]
    events: ["alert.*", "principal.*"]
    rules: ["redflag:*", "sigma:*", "baseline:*"]   # globs on the alert's rule
    principals: ["arn:aws:sts::123456789012:*"]     # globs on the principal
```
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detect.findings import SEVERITIES
from ingest.yamlfile import string_list, yaml_list

__all__ = ["Route", "RoutesFileError", "load_routes", "route_of"]

_FIELDS = {"name", "endpoints", "events", "min_severity", "kinds", "rules", "actor_kinds",
           "principals"}  # fmt: skip


class RoutesFileError(ValueError):
    """The routes file cannot be used; the message names the file, the route and the fix."""


@dataclass(frozen=True)
class Route:
    name: str
    endpoints: tuple[str, ...]
    events: tuple[str, ...] = ("*",)
    min_severity: str = ""
    kinds: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    actor_kinds: tuple[str, ...] = ()
    principals: tuple[str, ...] = ()

    def matches(self, event_type: str, data: Mapping[str, Any]) -> bool:
        """`data` is the webhook payload's data: an alert event's fields are under "alert"."""
        if not _any(event_type, self.events):
            return False
        nested = data.get("alert")
        data = nested if isinstance(nested, Mapping) else data
        if self.min_severity:
            severity = str(data.get("severity", ""))
            if severity not in SEVERITIES:
                return False
            if SEVERITIES.index(severity) < SEVERITIES.index(self.min_severity):
                return False
        for values, key in (
            (self.kinds, "kind"),
            (self.rules, "rule"),
            (self.actor_kinds, "actor_kind"),
            (self.principals, "principal"),
        ):
            if values and not _any(str(data.get(key, "")), values):
                return False
        return True


def _any(value: str, globs: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, g) for g in globs)


def route_of(routes: Sequence[Route], event_type: str, data: Mapping[str, Any]) -> Route | None:
    """The first route that matches, or None."""
    return next((r for r in routes if r.matches(event_type, data)), None)


def load_routes(path: Path) -> list[Route]:
    """The routes of a YAML routes file; RoutesFileError says what is wrong and where."""
    items = yaml_list(path, "routes", "webhook routes file", RoutesFileError)
    return [_route(path, i, item) for i, item in enumerate(items)]


def _route(path: Path, index: int, item: Any) -> Route:
    where = f"webhook routes file {path}, route {index}"
    if not isinstance(item, dict):
        raise RoutesFileError(f"{where}: expected a mapping with name and endpoints")
    name = str(item.get("name") or f"route-{index}")
    where = f"webhook routes file {path}, route '{name}'"
    unknown = set(item) - _FIELDS
    if unknown:
        raise RoutesFileError(f"{where}: unknown field(s) {sorted(unknown)}; use {sorted(_FIELDS)}")
    lists = {
        key: string_list(item, key, where, RoutesFileError)
        for key in ("endpoints", "events", "kinds", "rules", "actor_kinds", "principals")
    }
    if not lists["endpoints"]:
        raise RoutesFileError(f"{where}: give at least one endpoint URL")
    bad = [u for u in lists["endpoints"] if not u.startswith(("http://", "https://", "slack+"))]
    if bad:
        raise RoutesFileError(f"{where}: endpoints must be http(s):// or slack+https:// URLs")
    severity = str(item.get("min_severity") or "")
    if severity and severity not in SEVERITIES:
        raise RoutesFileError(f"{where}: min_severity must be one of {list(SEVERITIES)}")
    return Route(
        name=name,
        endpoints=lists["endpoints"],
        events=lists["events"] or ("*",),
        min_severity=severity,
        kinds=lists["kinds"],
        rules=lists["rules"],
        actor_kinds=lists["actor_kinds"],
        principals=lists["principals"],
    )
