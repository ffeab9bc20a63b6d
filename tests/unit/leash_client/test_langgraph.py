"""leash_client.langgraph in real LangGraph graphs (ToolNode, interrupts, a checkpointer) against
a running Leash API process."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import Command
from typing_extensions import TypedDict

from leash_client import ActionDenied, LeashClient
from leash_client.langgraph import GraphGate
from tests.unit.dashboard.harness import LeashAPI
from tests.unit.leash_client.agent_api import (
    api,
    approve_when_asked,
    leash,
    pending_approvals,
    quarantine,
    unreachable,
)

__all__ = ["api", "leash"]

pytestmark = pytest.mark.timeout(120)


class Ran:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []


def tool_graph(gate: GraphGate, ran: Ran) -> Any:
    """START -> a ToolNode whose every call asks Leash (wrap_tool_call) -> END."""

    @tool
    def delete_environment(environment: str) -> str:
        """Delete every resource of an environment."""
        ran.calls.append(("delete_environment", environment))
        return f"{environment} deleted"

    @tool
    def list_buckets(prefix: str) -> str:
        """List the buckets whose name starts with prefix."""
        ran.calls.append(("list_buckets", prefix))
        return "staging-assets"

    builder = StateGraph(MessagesState)
    builder.add_node(
        "tools", ToolNode([delete_environment, list_buckets], wrap_tool_call=gate.wrap_tool_call)
    )
    builder.add_edge(START, "tools")
    builder.add_edge("tools", END)
    return builder.compile(checkpointer=InMemorySaver())


def model_asks(name: str, args: dict[str, str]) -> dict[str, Any]:
    call = {"name": name, "args": args, "id": f"call_{uuid.uuid4().hex[:8]}", "type": "tool_call"}
    return {"messages": [AIMessage(content="", tool_calls=[call])]}


def thread() -> dict[str, Any]:
    return {"configurable": {"thread_id": uuid.uuid4().hex}}


def tool_reply(result: dict[str, Any]) -> ToolMessage:
    reply = result["messages"][-1]
    assert isinstance(reply, ToolMessage)
    return reply


def test_a_destructive_tool_call_pauses_the_graph_until_leash_approves(
    api: LeashAPI, leash: LeashClient
) -> None:
    principal = "arn:aws:sts::123456789012:assumed-role/ops-agent/graph-approve"
    ran = Ran()
    graph, config = tool_graph(GraphGate(leash, principal), ran), thread()

    assert tool_reply(graph.invoke(model_asks("list_buckets", {"prefix": "st"}), config)).content
    paused = graph.invoke(model_asks("delete_environment", {"environment": "staging"}), config)
    [pause] = paused["__interrupt__"]
    asked = pause.value["leash"]
    assert asked["tool"] == "delete_environment" and asked["arguments"] == {
        "environment": "staging"
    }
    assert asked["decision"] == "require_approval" and asked["approval_id"]
    assert ran.calls == [("list_buckets", "st")]

    # resuming before anyone approved is not an approval: the graph pauses again
    again = graph.invoke(Command(resume=True), config)
    assert again["__interrupt__"][0].value["leash"]["approval_id"] == asked["approval_id"]
    assert ran.calls == [("list_buckets", "st")]

    assert approve_when_asked(api, principal) == asked["approval_id"]
    done = graph.invoke(Command(resume=True), config)
    assert "__interrupt__" not in done
    assert tool_reply(done).content == "staging deleted"
    assert ran.calls == [("list_buckets", "st"), ("delete_environment", "staging")]


def test_a_denial_is_the_tools_error_message_and_the_tool_never_runs(
    api: LeashAPI, leash: LeashClient
) -> None:
    principal = "arn:aws:sts::123456789012:assumed-role/ops-agent/graph-deny"
    quarantine(api, principal)
    ran = Ran()
    graph = tool_graph(GraphGate(leash, principal), ran)
    reply = tool_reply(
        graph.invoke(model_asks("delete_environment", {"environment": "prod"}), thread())
    )
    assert reply.status == "error"
    assert "Leash denied delete_environment" in str(reply.content)
    assert "quarantined" in str(reply.content)
    assert ran.calls == [] and pending_approvals(api, principal) == []


def test_an_approver_who_says_no_ends_the_pause_with_a_denial(
    api: LeashAPI, leash: LeashClient
) -> None:
    principal = "arn:aws:sts::123456789012:assumed-role/ops-agent/graph-refused"
    ran = Ran()
    graph, config = tool_graph(GraphGate(leash, principal), ran), thread()
    assert graph.invoke(model_asks("delete_environment", {"environment": "prod"}), config)[
        "__interrupt__"
    ]
    approve_when_asked(api, principal, verdict="deny")
    reply = tool_reply(graph.invoke(Command(resume=True), config))
    assert reply.status == "error" and "approver denied" in str(reply.content)
    assert ran.calls == []


class Plan(TypedDict):
    environment: str
    outcome: str


def test_guarded_in_a_node_of_ones_own_and_fail_closed_without_leash(leash: LeashClient) -> None:
    principal = "arn:aws:sts::123456789012:assumed-role/ops-agent/graph-own-node"
    ran = Ran()

    def build(gate: GraphGate) -> Any:
        @gate.guarded
        def drop_table(table: str, database: str = "prod") -> str:
            ran.calls.append(("drop_table", f"{database}.{table}"))
            return "dropped"

        def act(plan: Plan) -> dict[str, str]:
            return {"outcome": drop_table(plan["environment"])}

        builder = StateGraph(Plan)
        builder.add_node("act", act)
        builder.add_edge(START, "act")
        builder.add_edge("act", END)
        return builder.compile(checkpointer=InMemorySaver())

    paused = build(GraphGate(leash, principal)).invoke({"environment": "orders"}, thread())
    asked = paused["__interrupt__"][0].value["leash"]
    assert asked["tool"] == "drop_table"
    assert asked["arguments"] == {"table": "orders", "database": "prod"}  # defaults bound too

    with unreachable() as down:
        with pytest.raises(ActionDenied, match="cannot ask Leash about drop_table"):
            build(GraphGate(down, principal)).invoke({"environment": "orders"}, thread())
        assert ran.calls == []
        opened = build(GraphGate(down, principal, fail_open=True))
        assert opened.invoke({"environment": "orders"}, thread())["outcome"] == "dropped"
    assert ran.calls == [("drop_table", "prod.orders")]
