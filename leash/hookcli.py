"""`leash hook claude-code`: Claude Code's PreToolUse hook, answered by Leash's gate.

Claude Code runs the hook before every tool call with the call as JSON on stdin (`tool_name`,
`tool_input`, `session_id`, `cwd`, ...). The hook asks `POST /v1/decide` with the tool call
(source `tool:claude-code`: the server's tool catalogue classifies the command, SQL or file) and
answers in the hook's JSON on stdout:

- Leash allows: no opinion (Claude Code's own permission rules and prompts apply as without
  the hook), or "allow" with --allow (Leash's allow then skips Claude Code's prompt);
- Leash denies: "deny" with Leash's reason (Claude sees it and can change course);
- Leash requires approval: "ask" with the reason and where to approve -- the person at the
  terminal decides; with --wait S the hook instead waits up to S seconds for an approver in
  Leash (dashboard or API) and then allows or denies.

When Leash cannot be asked, the call is classified locally with the same catalogue: a
destructive, privilege or defense-evasion call is denied (fail closed) unless --fail-open; any
other call gets no opinion. The hook never blocks Claude Code for longer than --timeout per ask.
"""

from __future__ import annotations

import argparse
import getpass
import os
import socket
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import orjson

from detect.gate.policy import DANGEROUS
from ingest.catalogue.tools import tool_catalogue
from leash.cliargs import HelpWithDefaults, add_api_arguments

SOURCE = "tool:claude-code"
EVENT = "PreToolUse"
POLL_S = 2.0


class _Help(argparse.RawDescriptionHelpFormatter, HelpWithDefaults):
    """The description as written (its list), options with their defaults."""


def add_hook_arguments(sub: Any) -> None:
    hook = sub.add_parser(
        "hook",
        help="gate an agent's tool calls where it runs (Claude Code's PreToolUse hook)",
        description="Answer an agent runtime's pre-tool hook with Leash's gate.",
    )
    runtimes = hook.add_subparsers(dest="runtime", required=True, metavar="RUNTIME")
    claude = runtimes.add_parser(
        "claude-code",
        help="Claude Code PreToolUse hook: reads the call on stdin, prints the decision",
        description=__doc__,
        formatter_class=_Help,
        epilog='In ~/.claude/settings.json: {"hooks": {"PreToolUse": [{"matcher": "*", '
        '"hooks": [{"type": "command", "command": "leash hook claude-code"}]}]}} '
        "with LEASH_API_URL, LEASH_API_KEY (ingest scope) and LEASH_PRINCIPAL in the environment.",
    )
    add_api_arguments(claude)
    claude.add_argument(
        "--principal",
        default=os.environ.get("LEASH_PRINCIPAL", ""),
        help="who the agent is to Leash (LEASH_PRINCIPAL; default claude-code/<user>@<host>): "
        "the role ARN it runs as ties its tool calls to its cloud events",
    )
    claude.add_argument(
        "--allow", action="store_true", help="answer allow when Leash allows (skips the prompt)"
    )
    claude.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="S",
        help="wait up to S seconds for an approval in Leash instead of asking at the terminal",
    )
    claude.add_argument(
        "--fail-open",
        action="store_true",
        help="when Leash cannot be asked, let dangerous calls through (default: deny them)",
    )
    claude.add_argument("--timeout", type=float, default=5.0, help="seconds per decide call")
    claude.set_defaults(func=run_claude_code)


def run_claude_code(args: argparse.Namespace) -> int:
    try:
        call = orjson.loads(sys.stdin.buffer.read() or b"{}")
    except orjson.JSONDecodeError as exc:
        sys.stderr.write(f"leash hook: stdin is not the hook's JSON ({exc}); no opinion given\n")
        return 1  # a non-blocking error: Claude Code goes on and shows it in verbose mode
    if not isinstance(call, Mapping) or not call.get("tool_name"):
        sys.stderr.write("leash hook: no tool_name on stdin (is this a PreToolUse hook?)\n")
        return 1
    principal = args.principal or f"claude-code/{getpass.getuser()}@{socket.gethostname()}"
    with httpx.Client(
        base_url=args.url,
        timeout=args.timeout,
        headers={"Authorization": f"Bearer {args.api_key}"} if args.api_key else {},
    ) as http:
        answer = answer_call(
            call,
            ask=lambda: _decide(http, principal, call),
            allow=args.allow,
            wait_s=args.wait,
            fail_open=args.fail_open,
            url=args.url,
        )
    if answer is not None:
        sys.stdout.write(orjson.dumps(answer).decode() + "\n")
    return 0


def answer_call(
    call: Mapping[str, Any],
    *,
    ask: Callable[[], Mapping[str, Any]],
    allow: bool,
    wait_s: float,
    fail_open: bool,
    url: str,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any] | None:
    """The hook's output for one call (None: no opinion), asking Leash with `ask`."""
    tool = str(call.get("tool_name"))
    deadline = clock() + wait_s
    try:
        while True:
            decision = ask()
            verdict = decision.get("decision")
            if verdict != "require_approval" or clock() >= deadline:
                break
            sleep(min(POLL_S, max(deadline - clock(), 0.0)))
    except (httpx.HTTPError, ValueError) as exc:
        return _unreachable(call, tool, exc, fail_open=fail_open, url=url)
    reason = str(decision.get("reason") or "")
    if verdict == "allow":
        return _output("allow", f"Leash: {reason}") if allow else None
    if verdict == "deny":
        return _output("deny", f"Leash denied {tool}: {reason}")
    approval = decision.get("approval_id") or ""
    where = (
        f" Approval {approval}: approve in the Leash dashboard (Approvals) or "
        f"POST {url.rstrip('/')}/v1/approvals/{approval}/approve with an admin key."
        if approval
        else ""
    )
    if wait_s > 0:
        return _output("deny", f"Leash: {tool} was not approved within {wait_s:.0f}s ({reason}).")
    return _output("ask", f"Leash requires approval for {tool}: {reason}.{where}")


def _decide(http: httpx.Client, principal: str, call: Mapping[str, Any]) -> Mapping[str, Any]:
    response = http.post(
        "/v1/decide",
        json={
            "principal": principal,
            "action": str(call.get("tool_name")),
            "source": SOURCE,
            "arguments": call.get("tool_input") or {},
        },
    )
    if response.status_code in (401, 403):
        raise httpx.HTTPStatusError(
            f"{response.status_code} {response.json().get('detail', '')} "
            "(LEASH_API_KEY needs the ingest scope)",
            request=response.request,
            response=response,
        )
    response.raise_for_status()
    body: Mapping[str, Any] = response.json()
    return body


def _unreachable(
    call: Mapping[str, Any], tool: str, exc: Exception, *, fail_open: bool, url: str
) -> dict[str, Any] | None:
    action_class = tool_catalogue().action_class(tool, call.get("tool_input"))
    sys.stderr.write(f"leash hook: cannot ask Leash at {url} ({exc}); is `leash up` running?\n")
    if action_class not in DANGEROUS or fail_open:
        return None
    return _output(
        "deny",
        f"Leash could not be asked ({url}: {exc}) and {tool} is a {action_class} call: "
        "denied until Leash answers (start it with `leash up`, or run the hook with --fail-open).",
    )


def _output(decision: str, reason: str) -> dict[str, Any]:
    return {
        "hookSpecificOutput": {
            "hookEventName": EVENT,
            "permissionDecision": decision,
            "permissionDecisionReason": reason,
        }
    }
