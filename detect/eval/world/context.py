"""Shared generation context: organisation, emitter and cast lookups."""

from __future__ import annotations

from dataclasses import dataclass, field

from .org import Org
from .principal import Principal
from .record import Emitter


@dataclass
class Ctx:
    """Everything a generator needs to emit records for the world."""

    org: Org
    em: Emitter
    cast: list[Principal]
    by_key: dict[str, Principal] = field(default_factory=dict)
    uses: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_key = {p.key: p for p in self.cast}

    @property
    def store_arn(self) -> str:
        """ARN of the Identity Center identity store."""
        store = f"d-9067{self.org.name[:6]}"
        return f"arn:aws:identitystore::{self.org.accounts[0].id}:identitystore/{store}"

    def of_kind(self, *kinds: str) -> list[Principal]:
        """Principals whose kind is one of kinds."""
        return [p for p in self.cast if p.kind in kinds]

    def of_family(self, *prefixes: str) -> list[Principal]:
        """Principals whose family starts with one of the prefixes."""
        return [p for p in self.cast if p.family.startswith(prefixes)]
