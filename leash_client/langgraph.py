"""Leash's gate as LangGraph interrupts: a tool asks Leash first and the graph pauses for approval.

    from langgraph.prebuilt import ToolNode
    from langgraph.types import Command
    from leash_client import LeashClient
    from leash_client.langgraph import GraphGate

    gate = GraphGate(LeashClient(), principal="arn:aws:sts::123456789012:assumed-role/ops-agent/x")
    tools = ToolNode([delete_environment, list_buckets], wrap_tool_call=gate.wrap_tool_call)
    graph = builder.compile(checkpointer=InMemorySaver())  # interrupts need a checkpointer
    result = graph.invoke(inputs, config)
    for pause in result.get("__interrupt__", []):
        pause.value["leash"]          # the call, Leash's reason, the approval to grant
    # ... an approver approves in Leash (dashboard or API) ...
    graph.invoke(Command(resume=True), config)

In a node of your own, `gate.check(tool, arguments)` before the work, or `@gate.guarded` on the
function (it checks the function's name and bound arguments on each call).

`check(tool, arguments)` (what `guarded` runs before the function) asks Leash's decide with the
tool's name and arguments (source `tool:langgraph`; Leash's tool catalogue classifies the call):

- allow: returns and the tool runs;
- deny: raises ActionDenied with Leash's reason (through `wrap_tool_call`, the model gets it as
  the tool's error message instead, so the agent can change course);
- require_approval: `interrupt()` pauses the graph with `{"leash": {...}}` naming the approval.
  Resume it once approved in Leash: the node runs again, Leash answers allow (an approval is
  single use) and the tool runs. Resumed while Leash still waits, the graph pauses again; if the
  approver denied, ActionDenied.

The resume value is not an approval. Approvals live in Leash (who, when, from where, how many
distinct approvers the rule asks for), so resuming a graph cannot skip the gate. When Leash cannot
be asked the tool does not run (LeashUnavailable) unless `fail_open=True`. `wrap_tool_call` is
the synchronous ToolNode hook (graph.invoke / graph.stream).

LangGraph is not a dependency of leash_client: `pip install langgraph` where the agent runs.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

import httpx

from leash_client import ActionDenied, Decision, LeashClient, LeashUnavailable

__all__ = ["GraphGate"]

SOURCE = "tool:langgraph"
P = ParamSpec("P")
R = TypeVar("R")


class GraphGate:
    """Ask Leash before a tool runs inside a LangGraph node; pause the graph for approval."""

    def __init__(
        self,
        client: LeashClient,
        principal: str,
        *,
        source: str = SOURCE,
        fail_open: bool = False,
    ) -> None:
        self._client = client
        self._principal = principal
        self._source = source
        self._fail_open = fail_open

    def check(self, tool: str, arguments: Mapping[str, Any] | None = None) -> Decision | None:
        """Return when Leash allows `tool`; interrupt the graph while it waits for an approver.

        Raises ActionDenied when Leash (or an approver) says no, LeashUnavailable when it
        cannot be asked (None with fail_open)."""
        from langgraph.types import interrupt

        args = dict(arguments or {})
        while True:
            try:
                decision = self._client.decide(
                    self._principal, tool, source=self._source, arguments=args
                )
            except httpx.HTTPError as exc:
                if self._fail_open:
                    return None
                raise LeashUnavailable(f"cannot ask Leash about {tool}: {exc}") from exc
            if decision.allowed:
                return decision
            if decision.decision == "deny":
                raise ActionDenied(f"Leash denied {tool}: {decision.reason}", decision)
            interrupt({"leash": _pause(tool, args, decision)})

    def wrap_tool_call(self, request: Any, execute: Callable[[Any], Any]) -> Any:
        """ToolNode's `wrap_tool_call`: Leash's no becomes the tool's error message to the model."""
        from langchain_core.messages import ToolMessage

        call = request.tool_call
        try:
            self.check(call["name"], call.get("args"))
        except ActionDenied as refused:  # a denial, or Leash could not be asked: not run
            return ToolMessage(
                content=str(refused), tool_call_id=call["id"], name=call["name"], status="error"
            )
        return execute(request)

    def guarded(self, tool: Callable[P, R]) -> Callable[P, R]:
        """Decorator: `check` the function's name and bound arguments before each call."""
        signature = inspect.signature(tool)

        @functools.wraps(tool)
        def asking(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            self.check(tool.__name__, bound.arguments)
            return tool(*args, **kwargs)

        return asking


def _pause(tool: str, arguments: Mapping[str, Any], decision: Decision) -> dict[str, Any]:
    """What the interrupt shows the app: the call, Leash's reason and where to approve it."""
    approval = decision.approval_id or ""
    return {
        "tool": tool,
        "arguments": dict(arguments),
        "decision": decision.decision,
        "reason": decision.reason,
        "approval_id": approval,
        "approve": f"POST /v1/approvals/{approval}/approve (admin key) or the dashboard's "
        "Approvals page; then resume the graph",
    }
