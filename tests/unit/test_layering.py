"""The tree shows the architecture: dependencies point one way and no import circle exists.

Reads every first-party module's imports with `ast` (lazy imports inside functions included, so
a circle cannot hide behind one) and checks them against the layers below. A new module lands
in a layer; an import that points up a layer, or closes a circle, fails here with its name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ingest", "detect", "leash", "dashboard", "leash_client")
# Lower layers never import higher ones. Same-layer imports are allowed but may not form circles.
TOP_LAYERS = {"ingest": 0, "detect": 1, "leash": 2}
DETECT_LAYERS = {
    "findings": 0,  # the vocabulary rules and detectors speak
    "settings": 0,
    "features": 1,  # per-principal windows (pure)
    "rules": 1,
    "alerts": 1,
    "anomaly": 2,  # baselines and the forest, over features
    "context": 2,  # triage: what the organisation and the principal make of a finding
    "engine": 3,  # findings -> incidents -> alerts
    "response": 3,  # principal states, revokers, webhooks
    "gate": 4,  # decide reads principal states
    "worker": 4,  # the streaming engine on the bus
    "services": 5,  # typed wiring of one process
    "metrics": 5,  # Prometheus series fed by the services' hooks
    "api": 6,
    "eval": 6,
    "cli": 7,
}
MAX_DETECT_TOP_MODULES = 8  # detect/ shows its stages as folders, not as a flat list


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def first_party_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            found[module_name(path)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """First-party modules `name` imports (`from pkg import mod` counts as importing pkg.mod)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


MODULES = first_party_modules()
GRAPH = {name: imports_of(name, path, MODULES) for name, path in MODULES.items()}


def rank(name: str) -> tuple[int, int] | None:
    """(top-level layer, layer inside detect) of a module; None for the stand-alone packages."""
    top, _, rest = name.partition(".")
    if top not in TOP_LAYERS:
        return None
    inner = DETECT_LAYERS[rest.split(".")[0]] if top == "detect" and rest else 0
    return TOP_LAYERS[top], inner


def circles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for vertex in sorted(GRAPH):
        if vertex not in index:
            visit(vertex)
    return found


def test_no_import_circles() -> None:
    assert circles() == []


def test_every_detect_module_has_a_layer() -> None:
    tops = {name.split(".")[1] for name in GRAPH if name.startswith("detect.")}
    assert tops <= set(DETECT_LAYERS), f"give these a layer: {sorted(tops - set(DETECT_LAYERS))}"


def upward_imports() -> list[str]:
    wrong = []
    for name, targets in GRAPH.items():
        for target in targets:
            here, there = rank(name), rank(target)
            if here is None or there is None:  # dashboard and leash_client import no one else
                if name.split(".")[0] != target.split(".")[0]:
                    wrong.append(f"{name} -> {target} (stands alone)")
            elif there > here:
                wrong.append(f"{name} -> {target}")
    return sorted(wrong)


def test_dependencies_point_down() -> None:
    assert upward_imports() == []


def test_detect_top_level_shows_stages() -> None:
    modules = sorted(p.stem for p in (ROOT / "detect").glob("*.py") if p.stem != "__init__")
    assert len(modules) <= MAX_DETECT_TOP_MODULES, modules


@pytest.mark.parametrize(
    ("source", "target"),
    [
        pytest.param("detect.rules.base", "detect.gate.service", id="rules below the gate"),
        pytest.param("ingest.api", "detect.services", id="ingest may not import detect"),
        pytest.param("dashboard.client", "ingest.events", id="the dashboard talks HTTP only"),
    ],
)
def test_an_upward_import_is_caught(source: str, target: str) -> None:
    GRAPH[source].add(target)
    try:
        assert any(line.startswith(f"{source} -> {target}") for line in upward_imports())
    finally:
        GRAPH[source].discard(target)


def test_a_circle_is_caught() -> None:
    GRAPH["detect.features.bucket"].add("detect.features.state")
    try:
        assert any("detect.features.bucket" in c for c in circles())
    finally:
        GRAPH["detect.features.bucket"].discard("detect.features.state")
