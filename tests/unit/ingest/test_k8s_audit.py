"""POST /v1/ingest/k8s-audit through the real app, bus and chDB store, with the API server's own
EventList shape: deletes of lasting objects are destructive, RBAC and exec are privilege,
admission webhooks are defense evasion; people, workloads and agents are told apart, and an
EKS-mapped IAM identity is the same principal as its CloudTrail calls."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.testclient import TestClient

from ingest.runtime import Runtime
from tests.conftest import INGEST_KEY, READ_KEY, auth
from tests.unit.ingest.test_receivers import settled_rows

PATH = "/v1/ingest/k8s-audit"
EKS_ROLE = "arn:aws:sts::123456789012:assumed-role/eks-admins/dana"


def audit(n: int, verb: str, resource: str, user: dict[str, Any], **extra: Any) -> dict[str, Any]:
    name = extra.pop("name", "payments")
    ref = {"resource": resource, "namespace": "payments", "name": name, "apiVersion": "v1"}
    if "subresource" in extra:
        ref["subresource"] = extra.pop("subresource")
    event: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": f"6f0c3b5e-0b9f-4a7e-9d3c-{n:012d}",
        "stage": "ResponseComplete",
        "requestURI": f"/api/v1/namespaces/payments/{resource}/{name}",
        "verb": verb,
        "user": user,
        "sourceIPs": ["10.0.3.17"],
        "userAgent": "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",
        "objectRef": ref,
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": f"2026-11-30T10:00:{n:02d}.000000Z",
        "stageTimestamp": f"2026-11-30T10:00:{n:02d}.120000Z",
        "annotations": {"authorization.k8s.io/decision": "allow"},
    }
    event.update(extra)
    return event


ALICE = {"username": "alice@example.com", "groups": ["system:authenticated", "sre"]}
ARGO = {"username": "system:serviceaccount:argocd:argocd-application-controller"}
AGENT = {"username": "system:serviceaccount:ai:claude-ops-agent"}
EKS = {
    "username": "kubernetes-admin",
    "groups": ["system:masters"],
    "extra": {
        "arn": [EKS_ROLE],
        "canonicalArn": ["arn:aws:iam::123456789012:role/eks-admins"],
        "sessionName": ["dana"],
    },
}


def post(client: TestClient, events: list[Any], cluster: str = "prod-eu") -> Any:
    body = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": events}
    return client.post(
        f"{PATH}?cluster={cluster}", content=orjson.dumps(body), headers=auth(INGEST_KEY)
    )


def stored(client: TestClient, runtime: Runtime) -> dict[str, dict[str, Any]]:
    settled_rows(runtime)
    rows = client.get(
        "/v1/events", params={"q": "k8s", "limit": 100}, headers=auth(READ_KEY)
    ).json()["events"]
    return {e["action"] + " " + e["principal"]: e for e in rows if e["source"] == "k8s:prod-eu"}


def test_an_audit_webhook_batch_becomes_classified_events(
    client: TestClient, runtime: Runtime
) -> None:
    received = audit(9, "delete", "namespaces", ALICE, stage="RequestReceived")
    events = [
        audit(1, "delete", "namespaces", ALICE),
        audit(2, "delete", "deployments", ARGO, name="api"),
        audit(3, "create", "pods", AGENT, name="api-7d9f", subresource="exec"),
        audit(4, "create", "clusterrolebindings", EKS, name="dana-admin"),
        audit(5, "delete", "validatingwebhookconfigurations", ALICE, name="gatekeeper"),
        audit(6, "get", "secrets", ALICE, name="db-password"),
        audit(
            7,
            "delete",
            "persistentvolumeclaims",
            ALICE,
            responseStatus={"code": 403, "reason": "Forbidden", "message": "alice cannot"},
        ),
        received,  # the same call's first stage: skipped
        {**audit(8, "get", "pods", ALICE), "objectRef": None, "requestURI": "/healthz"},
        {**audit(10, "delete", "services", ALICE), "auditID": ""},  # cannot be an event
    ]
    response = post(client, events)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["skipped"]) == (7, 2)
    assert len(body["rejected"]) == 1 and "without auditID" in body["rejected"][0]["error"]

    found = stored(client, runtime)
    seen = {key: (e["action_class"], e["actor_kind"], e["error_code"]) for key, e in found.items()}
    assert seen == {
        "delete:namespaces k8s:prod-eu:alice@example.com": ("destructive", "human", ""),
        "delete:deployments k8s:prod-eu:system:serviceaccount:argocd:argocd-application-controller": (  # noqa: E501
            "destructive",
            "service",
            "",
        ),
        "create:pods/exec k8s:prod-eu:system:serviceaccount:ai:claude-ops-agent": (
            "privilege",
            "agent",
            "",
        ),
        f"create:clusterrolebindings {EKS_ROLE}": ("privilege", "human", ""),
        "delete:validatingwebhookconfigurations k8s:prod-eu:alice@example.com": (
            "defense_evasion",
            "human",
            "",
        ),
        "get:secrets k8s:prod-eu:alice@example.com": ("read", "human", ""),
        "delete:persistentvolumeclaims k8s:prod-eu:alice@example.com": (
            "destructive",
            "human",
            "Forbidden",
        ),
    }
    namespace = found["delete:namespaces k8s:prod-eu:alice@example.com"]
    assert namespace["resources"] == ["k8s://prod-eu/payments/namespaces/payments"]


def test_the_webhooks_retry_stores_nothing_twice(client: TestClient, runtime: Runtime) -> None:
    batch = [audit(n, "delete", "configmaps", ALICE, name=f"cm-{n}") for n in range(3)]
    assert post(client, batch).json()["accepted"] == 3
    again = post(client, batch).json()
    assert (again["accepted"], again["duplicates"]) == (0, 3)
    assert sorted(settled_rows(runtime)) == [f"k8s-{e['auditID']}" for e in batch]


def test_what_is_not_an_event_list_is_a_400(client: TestClient) -> None:
    for body in (b"hello", b"[1]", orjson.dumps({"kind": "PodList", "items": []})):
        response = client.post(PATH, content=body, headers=auth(INGEST_KEY))
        assert response.status_code == 400, response.text
        assert "not a Kubernetes audit EventList" in response.json()["detail"]
    assert client.post(PATH, content=b"{}").status_code == 401


def test_an_exec_command_is_kept_redacted_and_odd_fields_do_not_fail(
    client: TestClient, runtime: Runtime
) -> None:
    uri = (
        "/api/v1/namespaces/payments/pods/api-7d9f/exec?command=sh&command=-c&"
        "command=PGPASSWORD%3Dhunter2+psql+-h+db&container=api"
    )
    execs = audit(20, "create", "pods", ALICE, name="api-7d9f", subresource="exec", requestURI=uri)
    odd = audit(21, "get", "pods", ALICE, sourceIPs={"a": 1}, responseStatus="x")
    response = post(client, [execs, odd])
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2
    settled_rows(runtime)
    raw = client.get(
        "/v1/events", params={"action": "create:pods/exec"}, headers=auth(READ_KEY)
    ).text
    assert "psql -h db" in raw and "hunter2" not in raw
