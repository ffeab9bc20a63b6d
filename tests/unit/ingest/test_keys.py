"""Keys that can only do their job: a keys file with hashed tokens, scopes and bindings.

A key bound to an agent's principal ingests and asks `decide` for that agent only: another
principal's records are refused by index (403 when every record is another's), and a decide
for another principal is refused without revealing that principal's state. Tokens are kept as
SHA-256 digests; a keys file that cannot be used says what to fix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ingest.auth import Authenticator
from ingest.keys import KeyEntry, KeysFileError, load_keys_file
from ingest.runtime import open_runtime
from ingest.settings import Settings
from tests.conftest import ADMIN_KEY, auth, make_settings
from tests.factories import make_record

AGENT_TOKEN = "agent-token-7f3a"
ROLE = "deploy-agent"
OTHER = "billing-agent"
KEYS_FILE = f"""
keys:
  - name: deploy-agent
    sha256: {hashlib.sha256(AGENT_TOKEN.encode()).hexdigest()}
    scopes: [ingest]
    principals: ["arn:aws:sts::123456789012:assumed-role/{ROLE}/*"]
  - name: local-reader
    token: local-read-key
    scopes: [read]
"""


@pytest.fixture
def bound_client(tmp_path: Path) -> Iterator[TestClient]:
    from leash.app import build_app, build_services, start_workers

    keys = tmp_path / "keys.yaml"
    keys.write_text(KEYS_FILE, encoding="utf-8")
    settings = make_settings(tmp_path).model_copy(update={"keys_file": keys})
    with open_runtime(settings) as runtime:
        start_workers(runtime, sink=True, detect=False)
        with TestClient(build_app(build_services(runtime))) as client:
            yield client


def post(client: TestClient, records: list[dict[str, Any]]) -> Any:
    return client.post("/v1/events", json={"Records": records}, headers=auth(AGENT_TOKEN))


def test_a_bound_key_ingests_its_own_principals_records(bound_client: TestClient) -> None:
    response = post(bound_client, [make_record(role=ROLE) for _ in range(3)])
    assert response.status_code == 202
    assert response.json()["accepted"] == 3


def test_another_principals_record_is_refused_by_index_and_neighbours_kept(
    bound_client: TestClient,
) -> None:
    records = [make_record(role=ROLE), make_record(role=OTHER), make_record(role=ROLE)]
    body = post(bound_client, records).json()
    assert body["accepted"] == 2
    [rejected] = body["rejected"]
    assert rejected["index"] == 1
    assert "key 'deploy-agent' is bound to principals" in rejected["error"]
    assert f"assumed-role/{OTHER}/" in rejected["error"]


def test_only_other_principals_records_get_403(bound_client: TestClient) -> None:
    response = post(bound_client, [make_record(role=OTHER)])
    assert response.status_code == 403
    assert "key 'deploy-agent' is bound to principals" in response.json()["detail"]


def test_a_bound_key_decides_only_for_its_principal(bound_client: TestClient) -> None:
    mine = f"arn:aws:sts::123456789012:assumed-role/{ROLE}/run-1"
    other = f"arn:aws:sts::123456789012:assumed-role/{OTHER}/run-1"
    ask = {"action": "DescribeInstances", "source": "ec2.amazonaws.com"}
    ok = bound_client.post("/v1/decide", json={**ask, "principal": mine}, headers=auth(AGENT_TOKEN))
    assert ok.status_code == 200 and ok.json()["decision"] == "allow"
    refused = bound_client.post(
        "/v1/decide", json={**ask, "principal": other}, headers=auth(AGENT_TOKEN)
    )
    assert refused.status_code == 403
    detail = refused.json()["detail"]
    assert "use that principal's own key" in detail
    assert "revoked" not in detail and "quarantined" not in detail


def test_scopes_still_hold_and_plaintext_file_keys_work(bound_client: TestClient) -> None:
    assert bound_client.get("/v1/events", headers=auth(AGENT_TOKEN)).status_code == 403
    assert bound_client.get("/v1/events", headers=auth("local-read-key")).status_code == 200
    who = bound_client.get("/v1/whoami", headers=auth("local-read-key")).json()
    assert "local-read-key" not in str(who)
    assert bound_client.get("/v1/events", headers=auth(ADMIN_KEY)).status_code == 200


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("keys: []", "non-empty list under 'keys:'"),
        ("keys: [{name: a, scopes: [read]}]", "give exactly one of sha256"),
        ("keys: [{name: a, sha256: abc, scopes: [read]}]", "64 hex digits"),
        ("keys: [{name: a, token: t, scopes: [write]}]", "unknown scope(s) ['write']"),
        ("keys: [{name: a, token: t, scopes: [read]}, {name: a, token: u, scopes: [read]}]",
         "'a' is used twice"),
        ("keys: [{name: a, token: t, scopes: [read], principals: arn}]", "list of glob"),
        ("keys: [{token: t, scopes: [read]}]", "give the key a name"),
        ("keys: [", "not valid YAML"),
    ],
)  # fmt: skip
def test_a_keys_file_that_cannot_be_used_says_what_to_fix(
    tmp_path: Path, text: str, says: str
) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(KeysFileError, match=None) as caught:
        load_keys_file(path)
    assert says in str(caught.value) and str(path) in str(caught.value)


def test_settings_combine_environment_keys_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(KEYS_FILE, encoding="utf-8")
    settings = Settings(_env_file=None, api_keys=["env-token:admin"], keys_file=path)  # type: ignore[call-arg]
    entries = settings.key_entries()
    assert [e.name for e in entries][1:] == ["deploy-agent", "local-reader"]
    assert entries[0].scopes == {"ingest", "read", "admin"}
    assert all(len(e.digest) == 32 for e in entries)  # SHA-256 digests, not tokens


def test_the_eventbridge_receiver_holds_a_bound_key_to_its_principals(
    bound_client: TestClient,
) -> None:
    from tests.unit.ingest.test_receivers import eventbridge_event

    headers = auth(AGENT_TOKEN)
    mine = eventbridge_event(make_record(role=ROLE))
    other = eventbridge_event(make_record(role=OTHER))
    assert (
        bound_client.post("/v1/ingest/eventbridge", json=mine, headers=headers).status_code == 202
    )
    refused = bound_client.post("/v1/ingest/eventbridge", json=other, headers=headers)
    assert refused.status_code == 403
    assert "key 'deploy-agent' is bound to principals" in refused.json()["detail"]


def test_an_approval_is_consumed_only_by_the_key_that_asked(bound_client: TestClient) -> None:
    principal = f"arn:aws:sts::123456789012:assumed-role/{ROLE}/run-1"
    ask = {"principal": principal, "action": "DeleteBucket", "source": "s3.amazonaws.com"}
    first = bound_client.post("/v1/decide", json=ask, headers=auth(AGENT_TOKEN)).json()
    assert first["decision"] == "require_approval" and first["approval_id"]
    approved = bound_client.post(
        f"/v1/approvals/{first['approval_id']}/approve",
        json={"note": "checked the bucket"},
        headers=auth(ADMIN_KEY),
    )
    assert approved.status_code == 200
    # another key asking the same question does not spend (or learn the id of) that approval
    other = bound_client.post("/v1/decide", json=ask, headers=auth(ADMIN_KEY)).json()
    assert other["decision"] != "allow" and other.get("approval_id") != first["approval_id"]
    mine = bound_client.post("/v1/decide", json=ask, headers=auth(AGENT_TOKEN)).json()
    assert mine["decision"] == "allow"


def test_a_keys_bucket_refills_at_its_rate() -> None:
    now = [100.0]
    key = KeyEntry.from_token("t", frozenset({"read"}))
    limited = Authenticator([key], rate_per_s=2.0, clock=lambda: now[0])
    caller = limited.identify_token("t")
    assert caller is not None
    assert [limited.throttle(caller) for _ in range(3)] == [0.0, 0.0, 0.5]
    now[0] += 0.5  # one token back
    assert limited.throttle(caller) == 0.0
    assert limited.throttle(caller) > 0
    unlimited = Authenticator([key])
    assert all(unlimited.throttle(caller) == 0.0 for _ in range(100))


def test_past_its_rate_a_key_gets_429_with_retry_after(tmp_path: Path) -> None:
    from leash.app import build_app, build_services

    settings = make_settings(tmp_path).model_copy(update={"rate_limit_per_s": 1.0})
    with open_runtime(settings) as runtime, TestClient(build_app(build_services(runtime))) as c:
        first = c.get("/v1/whoami", headers=auth(ADMIN_KEY))
        second = c.get("/v1/whoami", headers=auth(ADMIN_KEY))
    assert first.status_code == 200
    assert second.status_code == 429
    assert second.headers["Retry-After"] == "1"
    assert "rate limit" in second.json()["detail"]


def test_which_keys_pushes_may_act_on_by_default_and_by_setting(tmp_path: Path) -> None:
    """Automatic response trusts an admin key (it may quarantine by itself) and a key bound to
    principals (it can only speak of those); an unbound ingest key, or one bound only to an
    account, could forge records of any agent there, so it is trusted only when told."""
    path = tmp_path / "keys.yaml"
    path.write_text(
        KEYS_FILE
        + """
  - {name: account-collector, token: c1, scopes: [ingest], accounts: ["123456789012"]}
  - {name: trail-collector, token: c2, scopes: [ingest], trusted: true}
  - {name: demoted-admin, token: c3, scopes: [admin], trusted: false}
""",
        encoding="utf-8",
    )
    env = ["env-ingest:ingest", "env-admin:admin", "env-trusted:ingest"]
    trusted_env = KeyEntry.from_token("env-trusted", frozenset({"ingest"})).key_id
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, api_keys=env, keys_file=path, trusted_keys=[trusted_env, "local-reader"]
    )
    trusts = {e.name: e.trusts for e in settings.key_entries()}
    assert list(trusts.values()) == [False, True, True, True, True, False, True, False]
    assert list(trusts)[3:] == [
        "deploy-agent",
        "local-reader",
        "account-collector",
        "trail-collector",
        "demoted-admin",
    ]
    everyone = Settings(_env_file=None, api_keys=env, trusted_keys="*")  # type: ignore[call-arg]
    assert all(e.trusts for e in everyone.key_entries())


def test_trusted_must_be_a_yes_or_no(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("keys:\n  - {name: k, token: t, scopes: [ingest], trusted: 'yes'}\n")
    with pytest.raises(KeysFileError, match="key 'k': trusted must be true or false"):
        load_keys_file(path)
