"""Kubernetes audit events in: the API server's audit webhook (`audit.k8s.io/v1` EventList).

Point the API server's webhook backend at `POST /v1/ingest/k8s-audit?cluster=<name>`
(`--audit-webhook-config-file`, a kubeconfig whose user token is a Leash ingest key). Each
event at stage ResponseComplete that names an API object becomes one CloudTrail-shaped record
through the same normaliser, bus, store and detectors as a cloud call:

- `eventSource` `k8s:<cluster>`, `eventName` `<verb>:<resource>[/<subresource>]`
  (`delete:namespaces`, `create:pods/exec`), classified by ingest/catalogue/k8s.yml;
- the principal: on EKS the IAM identity the authenticator mapped (`user.extra.arn`: the same
  principal as that role's CloudTrail calls), else `k8s:<cluster>:<username>`; service accounts
  and `system:` components are workloads, names matching the identity rules' agent patterns are
  agents, other users people;
- `eventID` the audit id: the webhook's retries store nothing twice.

Other stages (RequestReceived, ResponseStarted, Panic) and calls without an object (`/healthz`,
`/metrics`) are skipped and counted; an event that cannot be a record is rejected by index
without failing its batch (the API server would retry the whole batch).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from ingest.catalogue.tools import redact
from ingest.identity import IdentityRules, arn_account

__all__ = ["AuditBatch", "audit_records"]

STAGE = "ResponseComplete"
_CLUSTER = re.compile(r"[^A-Za-z0-9._-]+")
_SYSTEM_SA = "system:serviceaccount:"


@dataclass
class AuditBatch:
    records: list[Any] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    skipped: int = 0  # other stages, non-object requests


def cluster_name(value: str) -> str:
    return _CLUSTER.sub("-", value)[:64] or "k8s"


def audit_records(body: Any, cluster: str, identity: IdentityRules) -> AuditBatch:
    """The records of an EventList (or of one Event); ValueError if it is neither."""
    if not isinstance(body, Mapping):
        raise ValueError("expected an audit.k8s.io EventList object")
    kind = body.get("kind")
    if kind == "EventList":
        items = body.get("items")
        if not isinstance(items, list):
            raise ValueError("an EventList without an `items` list")
    elif kind == "Event":
        items = [body]
    else:
        raise ValueError(f"kind {str(kind)[:40]!r}: send the audit webhook's EventList")
    batch = AuditBatch()
    for item in items:
        if not isinstance(item, Mapping):
            batch.records.append(item)
            batch.errors[len(batch.records) - 1] = "an audit event must be an object"
            batch.labels.append(f"item {len(batch.labels)}")
            continue
        if item.get("stage") != STAGE or not isinstance(item.get("objectRef"), Mapping):
            batch.skipped += 1
            continue
        label = f"audit event {str(item.get('auditID') or '?')[:64]}"
        batch.labels.append(label)
        try:
            batch.records.append(_record(item, cluster, identity))
        except (ValueError, TypeError) as exc:
            batch.records.append(None)
            batch.errors[len(batch.records) - 1] = str(exc)
    return batch


def _record(event: Mapping[str, Any], cluster: str, rules: IdentityRules) -> dict[str, Any]:
    ref: Mapping[str, Any] = event["objectRef"]
    verb, resource = str(event.get("verb") or ""), str(ref.get("resource") or "")
    if not verb or not resource:
        raise ValueError("an audit event without verb or objectRef.resource")
    audit_id = str(event.get("auditID") or "")
    if not audit_id:
        raise ValueError("an audit event without auditID")
    when = event.get("stageTimestamp") or event.get("requestReceivedTimestamp")
    if not when:
        raise ValueError("an audit event without stageTimestamp")
    sub = str(ref.get("subresource") or "")
    action = f"{verb}:{resource}" + (f"/{sub}" if sub else "")
    user = _object(event, "user")
    username = str(user.get("username") or "")
    if not username:
        raise ValueError("an audit event without user.username")
    arn = _extra(user, "arn") or _extra(user, "canonicalArn")
    identity, agent = _identity(username, arn, cluster, rules)
    status = _object(event, "responseStatus")
    code = int(status.get("code") or 0)
    namespace, name = str(ref.get("namespace") or ""), str(ref.get("name") or "")
    path = "/".join(p for p in (namespace, resource + (f"/{sub}" if sub else ""), name) if p)
    record: dict[str, Any] = {
        "eventVersion": "1.08",
        "eventID": f"k8s-{audit_id}",
        "eventTime": str(when),
        "eventSource": f"k8s:{cluster}",
        "eventName": action,
        "eventType": "KubernetesAudit",
        "userIdentity": identity,
        "sourceIPAddress": _first_ip(event.get("sourceIPs")),
        "userAgent": str(event.get("userAgent") or "")[:512],
        "requestParameters": {
            "verb": verb,
            "resource": resource,
            "subresource": sub,
            "namespace": namespace,
            "object": name,  # (not "name": the object is in resources, as its k8s:// path)
            "apiGroup": str(ref.get("apiGroup") or ""),
            # (an exec's command is in its query: kept decoded and redacted)
            "requestURI": redact(unquote_plus(str(event.get("requestURI") or "")[:2048]))[:1024],
        },
        "resources": [{"ARN": f"k8s://{cluster}/{path}", "type": f"K8s::{resource}"}],
        "additionalEventData": {"groups": list(user.get("groups") or [])[:16]},
    }
    if agent:
        record["agent"] = {"name": username}
    account = arn_account(arn)
    if account:
        record["recipientAccountId"] = account
    if code >= 400:
        record["errorCode"] = str(status.get("reason") or code)
        record["errorMessage"] = str(status.get("message") or "")[:300]
    return record


def _identity(
    username: str, arn: str, cluster: str, rules: IdentityRules
) -> tuple[dict[str, Any], bool]:
    """(userIdentity, whether an agent's): the EKS-mapped IAM identity when there is one."""
    if arn:
        return {"type": "AssumedRole", "arn": arn, "userName": username}, False
    principal = f"k8s:{cluster}:{username}"
    short = username.rpartition(":")[2]
    agent = any(p.search(short) for p in rules.agent_role)
    if username.startswith(_SYSTEM_SA) or username.startswith("system:"):
        return {"type": "KubernetesServiceAccount", "principalId": principal}, agent
    return {"type": "KubernetesUser", "principalId": principal}, agent


def _first_ip(value: Any) -> str:
    return str(value[0])[:64] if isinstance(value, list) and value else ""


def _object(node: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = node.get(key)
    return value if isinstance(value, Mapping) else {}


def _extra(user: Mapping[str, Any], key: str) -> str:
    extra = user.get("extra")
    if not isinstance(extra, Mapping):
        return ""
    value = extra.get(key)
    if isinstance(value, list) and value:
        return str(value[0])
    return str(value) if isinstance(value, str) else ""
