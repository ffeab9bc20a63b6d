"""Leash's gate as the OpenAI Agents SDK's tool approval (`needs_approval` and `RunState`).

    from agents import Agent, Runner
    from leash_client import LeashClient
    from leash_client.openai_agents import AgentsGate

    gate = AgentsGate(LeashClient(), principal="arn:aws:sts::123456789012:assumed-role/ops-agent/x")
    agent = Agent(name="ops", tools=gate.protect([delete_environment, list_buckets]))
    result = await Runner.run(agent, "tidy up staging")
    while result.interruptions:
        state = result.to_state()
        for item in await gate.resolve(state):  # settles the pauses Leash asked for
            ...                                  # the app's own approvals, if any
        result = await Runner.run(agent, state)

Before each call of a protected tool the SDK awaits its `needs_approval`; the gate asks Leash's
decide with the tool's name and arguments (source `tool:openai-agents`, so Leash's tool
catalogue classifies the call and keeps only a redacted summary of its arguments):

- allow: the tool runs without pausing (unless the tool's own `needs_approval` asks);
- deny or require_approval: the run pauses with an interruption for that call. `resolve` rejects
  a denied call with Leash's reason (the model reads it and can change course) and, for a call
  that needs approval, waits up to `wait_s` for an approver in Leash (dashboard, API, or as many
  distinct approvers as the policy rule asks) before approving the call or rejecting it.

The approval lives in Leash, not in the app: who approved, when, and from where is recorded there,
and a two-person rule holds whatever the app does. When Leash cannot be asked the call pauses
(fail closed) and `resolve` leaves it to the app, unless `fail_open=True`.

The SDK is not a dependency of leash_client: `pip install openai-agents` where the agent runs.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from leash_client import (
    DEFAULT_POLL_S,
    DEFAULT_WAIT_S,
    ActionDenied,
    Decision,
    LeashClient,
)

__all__ = ["AgentsGate"]

SOURCE = "tool:openai-agents"
ApprovalFunction = Callable[[Any, dict[str, Any], str], Awaitable[bool]]


@dataclass(frozen=True)
class _Asked:
    """What Leash answered for one paused call (decision None: Leash could not be asked)."""

    tool: str
    arguments: Mapping[str, Any]
    decision: Decision | None


class AgentsGate:
    """Ask Leash before each call of the tools it protects; settle the pauses it caused."""

    def __init__(
        self,
        client: LeashClient,
        principal: str,
        *,
        source: str = SOURCE,
        wait_s: float = DEFAULT_WAIT_S,
        poll_s: float = DEFAULT_POLL_S,
        fail_open: bool = False,
    ) -> None:
        self._client = client
        self._principal = principal
        self._source = source
        self._wait_s = wait_s
        self._poll_s = poll_s
        self._fail_open = fail_open
        self._asked: dict[str, _Asked] = {}  # call id -> Leash's answer, until resolve settles it

    def needs_approval(
        self, tool_name: str, own: bool | ApprovalFunction = False
    ) -> ApprovalFunction:
        """A `needs_approval` callable for `tool_name`; `own` is the tool's own setting."""

        async def ask(context: Any, arguments: dict[str, Any], call_id: str) -> bool:
            try:
                decision = await asyncio.to_thread(
                    self._client.decide,
                    self._principal,
                    tool_name,
                    source=self._source,
                    arguments=arguments,
                )
            except httpx.HTTPError:
                if self._fail_open:
                    return await _own(own, context, arguments, call_id)
                self._asked[call_id] = _Asked(tool_name, arguments, None)
                return True
            if decision.allowed:
                return await _own(own, context, arguments, call_id)
            self._asked[call_id] = _Asked(tool_name, arguments, decision)
            return True

        return ask

    def protect(self, tools: Iterable[Any]) -> list[Any]:
        """Copies of the FunctionTools that ask Leash before each call (other tools as they are).

        The originals are left alone, so one tool can serve agents with different gates."""
        return [self._protected(tool) for tool in tools]

    def _protected(self, tool: Any) -> Any:
        """A FunctionTool's copy that asks Leash (hosted, shell and MCP tools have other flows)."""
        if isinstance(tool, type) or not hasattr(tool, "on_invoke_tool"):
            return tool
        protected = copy.copy(tool)
        protected.needs_approval = self.needs_approval(tool.name, tool.needs_approval)
        return protected

    async def resolve(self, state: Any) -> list[Any]:
        """Approve or reject in `state` the interruptions Leash caused; return the others.

        A denied call is rejected with Leash's reason; a call that needs approval waits (up to
        wait_s) for approvers in Leash, then is approved, or rejected with why. What is returned
        is for the app to settle: calls Leash could not be asked about, and approvals the tools
        asked for themselves."""
        left, ours = [], []
        for item in state.get_interruptions():
            asked = self._asked.pop(str(item.call_id), None)
            if asked is None or asked.decision is None:
                left.append(item)
            else:
                ours.append((item, asked))
        # concurrently: approvers may grant a run's several calls in any order
        verdicts = await asyncio.gather(*(self._settle(asked) for _, asked in ours))
        for (item, _), verdict in zip(ours, verdicts, strict=True):
            if verdict is None:
                state.approve(item)
            else:
                state.reject(item, rejection_message=verdict)
        return left

    async def _settle(self, asked: _Asked) -> str | None:
        """None when Leash allows the call now, else the message the model reads."""
        decision = asked.decision
        if decision is not None and decision.decision == "deny":
            return f"Leash denied {asked.tool}: {decision.reason}"
        try:
            await asyncio.to_thread(
                self._client.wait_for_decision,
                self._principal,
                asked.tool,
                source=self._source,
                arguments=asked.arguments,
                wait_s=self._wait_s,
                poll_s=self._poll_s,
            )
        except ActionDenied as refused:
            return f"Leash did not allow {asked.tool}: {refused}"
        except httpx.HTTPError as exc:
            return f"Leash could not be asked about {asked.tool} ({exc}); not run"
        return None


async def _own(
    own: bool | ApprovalFunction, context: Any, arguments: dict[str, Any], call_id: str
) -> bool:
    """The tool's own needs_approval setting, evaluated as the SDK would."""
    if callable(own):
        return bool(await own(context, arguments, call_id))
    return bool(own)
