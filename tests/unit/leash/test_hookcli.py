"""The hook's --wait: it waits for an approver in Leash, then allows or denies."""

from __future__ import annotations

from typing import Any

from leash.hookcli import answer_call

CALL = {"tool_name": "Bash", "tool_input": {"command": "terraform destroy"}}
ASK = {"decision": "require_approval", "reason": "destructive action", "approval_id": "apr_1"}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def run(answers: list[dict[str, Any]], wait_s: float) -> tuple[dict[str, Any] | None, int]:
    clock, asked = Clock(), []

    def ask() -> dict[str, Any]:
        asked.append(1)
        return answers[min(len(asked), len(answers)) - 1]

    out = answer_call(
        CALL,
        ask=ask,
        allow=True,
        wait_s=wait_s,
        fail_open=False,
        url="http://leash",
        sleep=clock.sleep,
        clock=clock,
    )
    return out, len(asked)


def decision(out: dict[str, Any] | None) -> str:
    return out["hookSpecificOutput"]["permissionDecision"] if out else ""


def test_waiting_ends_when_an_approver_decides() -> None:
    approved = {"decision": "allow", "reason": "approved by an admin (single use)"}
    out, asked = run([ASK, ASK, approved], wait_s=60)
    assert (decision(out), asked) == ("allow", 3)
    refused = {"decision": "deny", "reason": "an approver denied this exact action"}
    out, _ = run([ASK, refused], wait_s=60)
    assert decision(out) == "deny" and "approver denied" in str(out)


def test_no_approval_within_the_wait_is_a_deny_and_without_wait_the_terminal_asks() -> None:
    out, asked = run([ASK], wait_s=5)
    assert decision(out) == "deny" and "not approved within 5s" in str(out)
    assert asked == 4  # at 0, 2, 4 and 5 seconds
    out, asked = run([ASK], wait_s=0)
    assert (decision(out), asked) == ("ask", 1)
    assert "http://leash/v1/approvals/apr_1/approve" in str(out)
