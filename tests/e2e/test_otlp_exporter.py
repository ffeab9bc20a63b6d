"""The OpenTelemetry SDK's own OTLP/HTTP exporter, pointed at a real `leash up`: an agent
framework's tool-call spans arrive as events, and an agent's tool calls are one principal with
its cloud calls when it names the role it runs as."""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.e2e.conftest import LeashProcess

ROLE = "arn:aws:sts::123456789012:assumed-role/ops-agent/run-42"


def test_an_agent_frameworks_tool_spans_arrive_as_events(leash_up: LeashProcess) -> None:
    exporter = OTLPSpanExporter(
        endpoint=f"{leash_up.url}/v1/otlp/v1/traces",
        headers={"Authorization": f"Bearer {leash_up.key}"},
    )
    provider = TracerProvider(
        resource=Resource.create({"service.name": "ops-agent", "leash.principal": ROLE})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("agent-framework")
    with tracer.start_as_current_span("invoke_agent ops-agent"):
        for command in ("kubectl get pods -n payments", "kubectl delete namespace payments"):
            with tracer.start_as_current_span("execute_tool run_shell_command") as span:
                span.set_attribute("gen_ai.operation.name", "execute_tool")
                span.set_attribute("gen_ai.tool.name", "run_shell_command")
                span.set_attribute("gen_ai.tool.call.arguments", f'{{"command": "{command}"}}')
    provider.shutdown()

    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    with leash_up.client() as client:
        while len(found) < 2 and time.monotonic() < deadline:
            found = client.get("/v1/events", params={"action": "run_shell_command"}).json()[
                "events"
            ]
            time.sleep(0.2)
    assert sorted((e["action_class"], e["principal"]) for e in found) == [
        ("destructive", ROLE),
        ("read", ROLE),
    ]
    assert {e["source"] for e in found} == {"tool:ops-agent"}
