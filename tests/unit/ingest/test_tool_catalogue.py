"""The tool catalogue: an agent's tool call classified by what it does, its secrets never kept."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.catalogue.tools import load_tool_catalogue, redact, redact_arguments, tool_catalogue

CASES: list[tuple[str, Any, str]] = [
    ("Bash", {"command": "ls -la && git status"}, "read"),
    ("Bash", {"command": "npm test"}, "write"),
    ("Bash", {"command": "rm -rf ./build"}, "destructive"),
    ("Bash", {"command": "cd infra && terraform apply -auto-approve -destroy"}, "destructive"),
    ("Bash", {"command": "terraform plan -out plan.tfplan"}, "read"),
    ("Bash", {"command": "kubectl delete namespace payments"}, "destructive"),
    ("Bash", {"command": "kubectl get pods -n payments"}, "read"),
    ("Bash", {"command": "sudo bash -c 'cd /srv; rm -fr /var/lib/postgresql'"}, "destructive"),
    ("Bash", {"command": "psql -h db -c 'DROP TABLE users;'"}, "destructive"),
    ("Bash", {"command": "git push --force origin main"}, "destructive"),
    ("Bash", {"command": "aws s3 rb s3://acme-prod-assets --force"}, "destructive"),
    ("Bash", {"command": "aws s3 ls s3://acme-prod-assets"}, "read"),
    # an aws CLI call is classified by actions.csv through its API name
    (
        "Bash",
        {"command": "aws --region eu-west-1 rds delete-db-instance --db-instance-identifier x"},
        "destructive",
    ),
    (
        "Bash",
        {
            "command": "aws --profile prod iam attach-role-policy --role-name ci "
            "--policy-arn arn:aws:iam::aws:policy/AdministratorAccess"
        },
        "privilege",
    ),
    ("Bash", {"command": "aws cloudtrail stop-logging --name org-trail"}, "defense_evasion"),
    ("Bash", {"command": "aws ec2 describe-instances --output json"}, "read"),
    (
        "Bash",
        {"command": "kubectl create clusterrolebinding me --clusterrole=cluster-admin"},
        "privilege",
    ),
    ("Bash", {"command": "history -c && unset HISTFILE"}, "defense_evasion"),
    (
        "Write",
        {"file_path": "/home/dev/.ssh/authorized_keys", "content": "ssh-ed25519 AAAA"},
        "privilege",
    ),
    ("Edit", {"file_path": "/repo/src/app.py", "old_string": "a", "new_string": "b"}, "write"),
    ("Read", {"file_path": "/repo/.env"}, "read"),
    ("mcp__github__delete_repository", {"owner": "acme", "repo": "api"}, "destructive"),
    ("mcp__postgres__query", {"sql": "SELECT * FROM orders WHERE id = 1"}, "read"),
    ("mcp__postgres__query", {"sql": "DELETE FROM orders;"}, "destructive"),
    ("mcp__postgres__query", {"sql": "DELETE FROM orders WHERE id = 1"}, "read"),
    ("mcp__db__execute", {"statement": "GRANT ALL ON orders TO intern"}, "privilege"),
    ("mcp__aws__grantAccess", {"user": "x"}, "privilege"),
    ("mcp__slack__post_message", {"channel": "#ops", "text": "deploy done"}, "write"),
    ("execute_tool_without_arguments", None, "write"),
]


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    CASES,
    ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)],
)
def test_a_tool_call_is_classified_by_what_it_does(
    tool: str, arguments: Any, expected: str
) -> None:
    call = tool_catalogue().classify(tool, arguments)
    assert call.action_class == expected, call


def test_the_command_or_file_is_kept_as_the_calls_resource() -> None:
    catalogue = tool_catalogue()
    assert catalogue.classify("Bash", {"command": "rm  -rf\n ./dist"}).resources == (
        "cmd: rm -rf ./dist",
    )
    write = catalogue.classify("Write", {"file_path": "/repo/a.py", "content": "x" * 5000})
    assert write.resources == ("/repo/a.py",)
    assert "xxxx" not in write.summary and "content=<5000 chars>" in write.summary


SECRETS = [
    ("export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
    ("aws configure set aws_access_key_id AKIAIOSFODNN7EXAMPLE", "IOSFODNN7EXAMPLE"),
    ("mysql --password=hunter2 -h db", "hunter2"),
    ("deploy --token 8f2d9c1e77aa", "8f2d9c1e77aa"),
    ("curl -H 'Authorization: Bearer eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl' api", "eyJzdWIiOiIx"),
    ("git clone https://bot:s3cr3tpw@github.com/acme/api", "s3cr3tpw"),
    ("GH_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789 gh pr list", "ghp_abcdefghij"),
    ("OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuv python run.py", "abcdefghijklmnopq"),
    ('{"password": "correct horse battery"}', "correct horse"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", "MIIEow"),
]


@pytest.mark.parametrize(("text", "secret"), SECRETS, ids=[s[1][:8] for s in SECRETS])
def test_secrets_in_arguments_are_never_kept(text: str, secret: str) -> None:
    assert secret not in redact(text)
    call = tool_catalogue().classify("Bash", {"command": text})
    assert secret not in call.summary
    assert all(secret not in r for r in call.resources)


def test_redaction_keeps_what_was_hidden_readable() -> None:
    assert redact("mysql --password=hunter2 -h db") == "mysql --password=[redacted] -h db"
    assert redact("https://bot:pw123@github.com/x") == "https://[redacted]@github.com/x"
    assert redact("kubectl get pods") == "kubectl get pods"


def test_a_catalogue_file_with_an_unknown_class_is_refused(tmp_path: Any) -> None:
    path = tmp_path / "tools.yml"
    path.write_text('version: "1"\nshell:\n  catastrophic: ["rm"]\n')
    with pytest.raises(ValueError, match="unknown action class 'catastrophic'"):
        load_tool_catalogue(path)


MORE_SECRETS = [
    ("deploy --token abcdef", "abcdef"),
    ("mysql -u root -phunter2 payments", "hunter2"),
    ("curl -u admin:pw123secret https://registry.internal", "pw123secret"),
    ("STRIPE_KEY=sk_live_abcdefghijklmnop", "abcdefghijklmnop"),
]


@pytest.mark.parametrize(("text", "secret"), MORE_SECRETS, ids=[s[1][:8] for s in MORE_SECRETS])
def test_secrets_without_digits_or_in_tool_specific_flags_are_redacted(
    text: str, secret: str
) -> None:
    assert secret not in redact(text)


def test_structured_arguments_hide_every_value_of_a_key_that_names_a_secret() -> None:
    """`redact` sees a string alone; a field called password is a secret whatever its value."""
    args = {"user": "svc", "password": "hunter", "headers": {"X-Api-Key": "abc", "Accept": "*"}}
    kept = redact_arguments(args)
    assert kept == {
        "user": "svc",
        "password": "[redacted]",
        "headers": {"X-Api-Key": "[redacted]", "Accept": "*"},
    }
    call = tool_catalogue().classify("mcp__http__request", args)
    assert "hunter" not in call.summary and "abc" not in call.summary


def test_an_approval_is_for_exactly_these_arguments() -> None:
    """Two calls of one tool that differ past what the summary shows are different requests."""
    catalogue = tool_catalogue()
    small = catalogue.classify("mcp__db__execute_sql", {"query": "DELETE FROM sessions;"})
    drop = catalogue.classify("mcp__db__execute_sql", {"query": "DROP DATABASE prod"})
    assert small.digest != drop.digest
    pad = "echo " + "a" * 400
    assert (
        catalogue.classify("Bash", {"command": pad + "; ls"}).digest
        != catalogue.classify("Bash", {"command": pad + "; rm -rf /"}).digest
    )


@pytest.mark.timeout(60)
def test_hostile_arguments_cost_time_in_proportion_to_their_size() -> None:
    """Inputs that made backtracking patterns take hours (a 2,000-character one took 30 s)
    finish: every repetition in the catalogue and the secret patterns is bounded."""
    catalogue = tool_catalogue()
    for text in ("grant" + " " * 60_000 + "x", "a-" * 30_000, ">>" + " x" * 30_000):
        assert catalogue.classify("Bash", {"command": text}).action_class
        assert catalogue.classify("mcp__db__execute", {"sql": text}).action_class
        redact_arguments({"x": text})
    nested: list[Any] = []
    for _ in range(2_000):  # deeper than orjson or repr would follow
        nested = [nested]
    assert tool_catalogue().classify("mcp__x__y", {"a": nested}).digest
