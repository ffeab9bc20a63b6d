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
import http.client
import os
import socket
import sys
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import orjson

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
    leash = LeashHTTP(args.url, args.api_key, timeout_s=args.timeout)
    try:
        answer = answer_call(
            call,
            ask=lambda: leash.decide(principal, call),
            allow=args.allow,
            wait_s=args.wait,
            fail_open=args.fail_open,
            url=args.url,
        )
    finally:
        leash.close()
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
    except (Unreachable, ValueError) as exc:
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


class Unreachable(Exception):
    """Leash could not be asked, or did not answer a decide."""


class LeashHTTP:
    """One keep-alive connection to Leash's decide (the standard library's http.client).

    Not httpx, which the other commands use: an agent runtime starts this command before every
    tool call, and importing httpx alone takes ~0.18 s here, more than everything else the hook
    does (bench/hook_latency.py)."""

    def __init__(self, url: str, api_key: str, *, timeout_s: float) -> None:
        parts = urllib.parse.urlsplit(url)
        self._bad_url = parts.scheme not in ("http", "https") or not parts.hostname
        self._path = parts.path.rstrip("/") + "/v1/decide"
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        if parts.scheme == "https" and parts.hostname:
            import ssl

            self._conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=timeout_s, context=ssl.create_default_context()
            )
        else:
            host = parts.hostname or "127.0.0.1"
            self._conn = http.client.HTTPConnection(host, parts.port, timeout=timeout_s)

    def decide(self, principal: str, call: Mapping[str, Any]) -> Mapping[str, Any]:
        body = orjson.dumps(
            {
                "principal": principal,
                "action": str(call.get("tool_name")),
                "source": SOURCE,
                "arguments": call.get("tool_input") or {},
            }
        )
        if self._bad_url:  # treated as unreachable: dangerous calls fail closed
            raise Unreachable("not an http(s):// URL (e.g. http://127.0.0.1:8000)")
        try:
            self._conn.request("POST", self._path, body=body, headers=self._headers)
            response = self._conn.getresponse()
            status, data = response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._conn.close()  # a fresh connection for the next poll
            raise Unreachable(str(exc) or type(exc).__name__) from exc
        if status in (401, 403):
            raise Unreachable(f"{status} {_detail(data)} (LEASH_API_KEY needs the ingest scope)")
        if status != 200:
            raise Unreachable(f"{status} {_detail(data)}")
        answer: Mapping[str, Any] = orjson.loads(data)
        return answer

    def close(self) -> None:
        self._conn.close()


def _detail(data: bytes) -> str:
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        return data[:200].decode(errors="replace")
    return str(body.get("detail", "")) if isinstance(body, dict) else str(body)[:200]


def _unreachable(
    call: Mapping[str, Any], tool: str, exc: Exception, *, fail_open: bool, url: str
) -> dict[str, Any] | None:
    # imported here: every tool call starts this command, and only this path needs them (~0.13 s)
    from detect.gate.policy import DANGEROUS
    from ingest.catalogue.tools import tool_catalogue

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
