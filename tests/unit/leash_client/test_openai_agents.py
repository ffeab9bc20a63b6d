"""leash_client.openai_agents in a real OpenAI Agents SDK run against a running Leash.

The model is the SDK's own ScriptedModel (agents.testing), so the Runner, the tool approval flow
and RunState are the SDK's; Leash is a real API process answering over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agents import Agent, RunConfig, Runner, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call

from leash_client import LeashClient
from leash_client.openai_agents import AgentsGate
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
NO_TRACES = RunConfig(tracing_disabled=True)


class Tools:
    """Two tools that record each time they really run."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, str]] = []

        @function_tool
        def list_buckets(prefix: str) -> str:
            """List the buckets whose name starts with prefix."""
            self.ran.append(("list_buckets", prefix))
            return "staging-assets, staging-logs"

        @function_tool
        def delete_environment(environment: str) -> str:
            """Delete every resource of an environment."""
            self.ran.append(("delete_environment", environment))
            return f"{environment} deleted"

        self.list_buckets = list_buckets
        self.delete_environment = delete_environment


def scripted(*tool_calls: tuple[str, dict[str, Any]]) -> ScriptedModel:
    """A model that makes each tool call in turn, then answers."""
    steps: list[Any] = [
        [function_call(name, args, call_id=f"call_{n}")]
        for n, (name, args) in enumerate(tool_calls)
    ]
    return ScriptedModel([*steps, [assistant_message("done")]])


def agent_with(gate: AgentsGate, tools: Tools, model: ScriptedModel) -> Agent[Any]:
    return Agent(
        name="ops",
        model=model,
        tools=gate.protect([tools.list_buckets, tools.delete_environment]),
    )


def model_saw(model: ScriptedModel, text: str) -> bool:
    """Whether any later model input carried `text` (a tool's output or a rejection)."""
    return any(text in str(call.input) for call in model.calls)


def test_reads_run_and_a_destructive_call_waits_for_an_approver_in_leash(
    api: LeashAPI, leash: LeashClient
) -> None:
    principal = "arn:aws:sts::123456789012:assumed-role/ops-agent/openai-approve"
    gate = AgentsGate(leash, principal, wait_s=30, poll_s=0.2)
    tools, model = (
        Tools(),
        scripted(
            ("list_buckets", {"prefix": "staging"}),
            ("delete_environment", {"environment": "staging"}),
        ),
    )
    agent = agent_with(gate, tools, model)

    async def run() -> Any:
        result = await Runner.run(agent, "tidy up staging", run_config=NO_TRACES)
        assert tools.ran == [("list_buckets", "staging")]  # a read: no pause
        assert [i.tool_name for i in result.interruptions] == ["delete_environment"]
        approver = asyncio.to_thread(approve_when_asked, api, principal)
        state = result.to_state()
        left, approval = await asyncio.gather(gate.resolve(state), approver)
        assert left == []
        return await Runner.run(agent, state, run_config=NO_TRACES), approval

    result, approval = asyncio.run(run())
    assert result.final_output == "done"
    assert tools.ran == [("list_buckets", "staging"), ("delete_environment", "staging")]
    assert model_saw(model, "staging deleted")
    with api.client() as admin:  # the approval was Leash's, single use, and is now spent
        assert admin.get(f"/v1/approvals/{approval}").json()["status"] == "used"


def test_a_denial_reaches_the_model_and_the_tool_never_runs(
    api: LeashAPI, leash: LeashClient
) -> None:
    principal = "arn:aws:sts::123456789012:assumed-role/ops-agent/openai-deny"
    quarantine(api, principal)
    gate = AgentsGate(leash, principal, wait_s=5, poll_s=0.2)
    tools, model = Tools(), scripted(("delete_environment", {"environment": "prod"}))
    agent = agent_with(gate, tools, model)

    async def run() -> Any:
        result = await Runner.run(agent, "delete and recreate prod", run_config=NO_TRACES)
        assert len(result.interruptions) == 1
        state = result.to_state()
        assert await gate.resolve(state) == []
        return await Runner.run(agent, state, run_config=NO_TRACES)

    assert asyncio.run(run()).final_output == "done"
    assert tools.ran == []
    assert model_saw(model, "Leash denied delete_environment")
    assert model_saw(model, "quarantined")
    assert pending_approvals(api, principal) == []  # a denial asks no one


def test_an_approver_who_says_no_rejects_the_call(api: LeashAPI, leash: LeashClient) -> None:
    principal = "arn:aws:sts::123456789012:assumed-role/ops-agent/openai-refused"
    gate = AgentsGate(leash, principal, wait_s=30, poll_s=0.2)
    tools, model = Tools(), scripted(("delete_environment", {"environment": "prod"}))
    agent = agent_with(gate, tools, model)

    async def run() -> Any:
        result = await Runner.run(agent, "delete prod", run_config=NO_TRACES)
        refuser = asyncio.to_thread(approve_when_asked, api, principal, verdict="deny")
        state = result.to_state()
        await asyncio.gather(gate.resolve(state), refuser)
        return await Runner.run(agent, state, run_config=NO_TRACES)

    assert asyncio.run(run()).final_output == "done"
    assert tools.ran == []
    assert model_saw(model, "Leash did not allow delete_environment")


def test_without_leash_dangerous_calls_pause_for_the_app_unless_fail_open() -> None:
    principal = "arn:aws:sts::123456789012:assumed-role/ops-agent/openai-down"
    with unreachable() as down:
        closed, opened = AgentsGate(down, principal), AgentsGate(down, principal, fail_open=True)
        tools = Tools()
        shut = agent_with(closed, tools, scripted(("delete_environment", {"environment": "dev"})))
        result = asyncio.run(Runner.run(shut, "delete dev", run_config=NO_TRACES))
        left = asyncio.run(closed.resolve(result.to_state()))
        assert [i.tool_name for i in left] == ["delete_environment"]  # the app decides
        assert tools.ran == []

        loose = agent_with(opened, tools, scripted(("delete_environment", {"environment": "dev"})))
        result = asyncio.run(Runner.run(loose, "delete dev", run_config=NO_TRACES))
        assert result.interruptions == [] and tools.ran == [("delete_environment", "dev")]


def test_a_tools_own_approval_still_applies_after_leash_allows(leash: LeashClient) -> None:
    principal = "arn:aws:sts::123456789012:assumed-role/ops-agent/openai-own"
    ran: list[str] = []

    @function_tool(needs_approval=True)
    def list_secrets(prefix: str) -> str:
        """List secret names under prefix."""
        ran.append(prefix)
        return "none"

    gate = AgentsGate(leash, principal)
    agent = Agent(
        name="ops",
        model=scripted(("list_secrets", {"prefix": "app/"})),
        tools=gate.protect([list_secrets]),
    )
    result = asyncio.run(Runner.run(agent, "list", run_config=NO_TRACES))
    left = asyncio.run(gate.resolve(result.to_state()))
    assert [i.tool_name for i in left] == ["list_secrets"] and ran == []  # the app's own ask
