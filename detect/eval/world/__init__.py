"""Synthetic CloudTrail organisation generator with labelled incidents and benign traps."""

from __future__ import annotations

from .generate import generate_world
from .model import Label, PrincipalInfo, World

__all__ = ["Label", "PrincipalInfo", "World", "generate_world"]
