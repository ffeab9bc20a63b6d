"""Webhook routing: critical agent alerts page on-call, the rest go to a channel (a real outbox
on an embedded store records where each delivery goes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from detect.response.outbox import Outbox
from detect.response.routing import RoutesFileError, load_routes
from detect.response.webhooks import WebhookNotifier, new_event
from ingest.store.chdb import ChdbStore

ROUTES = """
routes:
  - name: on-call
    endpoints: ["https://oncall.example/leash"]
    events: ["alert.opened"]
    min_severity: critical
    actor_kinds: [agent, service]
  - name: channel
    endpoints: ["slack+https://hooks.slack.example/T0/B0/X"]
    events: ["alert.*", "principal.*"]
"""


def alert(severity: str, actor_kind: str) -> dict[str, Any]:
    return {
        "alert": {
            "id": "alt_1",
            "severity": severity,
            "actor_kind": actor_kind,
            "rule": "baseline:lasting_destruction",
            "kind": "anomaly",
            "principal": "arn:aws:sts::123456789012:assumed-role/deploy-agent/run-1",
        },
        "actions": {},
    }


DEFAULT = "https://default.example/hook"


def test_the_first_matching_route_decides_the_endpoints(tmp_path: Path, store: ChdbStore) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES, encoding="utf-8")
    outbox = Outbox(store, endpoints=[DEFAULT])
    notifier = WebhookNotifier(outbox, load_routes(path))
    sent = [
        new_event("alert.opened", alert("critical", "agent")),
        new_event("alert.opened", alert("critical", "human")),
        new_event("alert.opened", alert("high", "agent")),
        new_event("principal.quarantined", {"principal": "arn:aws:iam::1:role/a"}),
        new_event("approval.requested", {"principal": "arn:aws:iam::1:role/a"}),
    ]
    for event in sent:
        notifier.send(event)
    where = {d.message_id: d.endpoint for d in outbox.due()}
    oncall, channel = "https://oncall.example/leash", "slack+https://hooks.slack.example/T0/B0/X"
    assert [where[e.id] for e in sent] == [oncall, channel, channel, channel, DEFAULT]
    assert len(outbox.due()) == len(sent)  # one delivery each: the route's endpoint only


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("routes: []", "non-empty list under 'routes:'"),
        ("routes: [{name: a, events: ['*']}]", "at least one endpoint"),
        ("routes: [{name: a, endpoints: [ftp://x]}]", "http(s)://"),
        ("routes: [{name: a, endpoints: ['https://x'], min_severity: urgent}]", "min_severity"),
        ("routes: [{name: a, endpoints: ['https://x'], severity: high}]", "unknown field(s)"),
    ],
)
def test_a_routes_file_that_cannot_be_used_says_what_to_fix(
    tmp_path: Path, text: str, says: str
) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RoutesFileError) as caught:
        load_routes(path)
    assert says in str(caught.value) and "route" in str(caught.value)
