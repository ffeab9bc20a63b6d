"""`leash gate replay`: what a candidate policy would have answered, before it goes live."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console
from rich.table import Table

from leash.cliargs import HelpWithDefaults, add_api_arguments

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def add_gate_arguments(sub: Any) -> None:
    gate = sub.add_parser("gate", help="the decide gate's tools (replay a candidate policy)")
    tools = gate.add_subparsers(dest="tool", required=True, metavar="TOOL")
    rep = tools.add_parser(
        "replay",
        help="replay recent traffic through a candidate policy and report what it would answer",
        description="Replay the last --since of decide requests, and the write and dangerous "
        "calls agents made without asking, through the policy in --policy (the running gate is "
        "not changed): how many it would allow, ask about or deny, per principal and rule, and "
        "which answers change. Roll a stricter policy out with `mode: monitor` first.",
        formatter_class=HelpWithDefaults,
    )
    rep.add_argument("--policy", type=Path, required=True, help="the candidate policy (YAML)")
    rep.add_argument("--since", default="7d", help="how far back: 30m, 12h, 7d (at most 90d)")
    add_api_arguments(rep, scope="admin")
    rep.add_argument("--json", action="store_true", help="print the report as JSON")
    rep.set_defaults(func=run_replay)


def run_replay(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    span = _SPAN.match(args.since.strip())
    if span is None:
        err.print(f"--since {args.since!r}: write a number and s, m, h or d (e.g. 7d)")
        return 2
    try:
        policy = yaml.safe_load(args.policy.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        err.print(f"cannot read the policy {args.policy}: {exc}")
        return 2
    since_s = float(span[1]) * _SECONDS[span[2]]
    try:
        response = httpx.post(
            f"{args.url.rstrip('/')}/v1/gate/replay",
            json={"policy": policy, "since_s": since_s},
            headers={"Authorization": f"Bearer {args.api_key}"},
            timeout=300,
        )
    except httpx.HTTPError as exc:
        err.print(f"cannot reach Leash at {args.url} ({exc}): is `leash up` running?")
        return 2
    if response.status_code != 200:
        detail = response.json().get("detail") if response.content else ""
        err.print(f"Leash answered {response.status_code}: {detail}")
        return 2 if response.status_code in (401, 403, 422) else 1
    report = response.json()
    if args.json:
        sys.stdout.write(response.text + "\n")
        return 0
    _print(report, args.since)
    return 0


def _print(report: dict[str, Any], since: str) -> None:
    out = Console()
    would = report["would"]
    out.print(
        f"[bold]{report['requests']}[/] requests in the last {since}: would allow "
        f"{would.get('allow', 0)}, ask about {would.get('require_approval', 0)}, "
        f"deny {would.get('deny', 0)}"
    )
    if report["changed"]:
        out.print(
            "changed answers: "
            + ", ".join(f"{c['was']} -> {c['would']}: {c['count']}" for c in report["changed"])
        )
    table = Table("principal", "would", "rule", "requests", "answered then", "e.g.")
    for row in report["principals"][:50]:
        answered = ", ".join(f"{k} {v}" for k, v in row["answered"].items())
        table.add_row(
            row["principal_key"],
            row["decision"],
            row["rule"],
            str(row["count"]),
            answered,
            ", ".join(row["examples"]),
        )
    out.print(table)
