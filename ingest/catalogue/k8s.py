"""Kubernetes API calls -> action class, from the packaged k8s.yml (see its header)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from importlib import resources
from typing import Any

import yaml

from ingest.catalogue import ACTION_CLASSES

__all__ = ["K8S_SOURCE", "K8sCatalogue", "is_k8s_source", "k8s_catalogue"]

K8S_SOURCE = "k8s"  # an audit event's source: "k8s", or "k8s:<cluster>"


def is_k8s_source(source: str) -> bool:
    return source == K8S_SOURCE or source.startswith(K8S_SOURCE + ":")


class K8sCatalogue:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self.version = str(data.get("version") or "")
        if not self.version:
            raise ValueError("k8s catalogue: `version` is missing")
        groups = {k: v for k, v in data.items() if k != "version"}
        for cls in groups:
            if cls not in ACTION_CLASSES:
                raise ValueError(f"k8s catalogue: unknown action class {cls!r}")
        self.patterns: tuple[tuple[str, Sequence[str]], ...] = tuple(
            (cls, tuple(str(p) for p in groups[cls]))
            for cls in sorted(groups, key=ACTION_CLASSES.index, reverse=True)
        )

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one catalogue per process, bounded
    def classify(self, action: str) -> str:
        """The class of `<verb>:<resource>[/<subresource>]`."""
        for cls, patterns in self.patterns:
            if any(fnmatchcase(action, p) for p in patterns):
                return cls
        return "write"


@functools.cache
def k8s_catalogue() -> K8sCatalogue:
    text = resources.files("ingest.catalogue").joinpath("k8s.yml").read_text("utf-8")
    return K8sCatalogue(yaml.safe_load(text) or {})
