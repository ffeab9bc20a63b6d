"""apply_migrations(store): runs pending numbered migrations, recorded in schema_migrations."""

from __future__ import annotations

import importlib
import logging
import pkgutil
import re
from dataclasses import dataclass

import ingest.migrations
from ingest import schema
from ingest.store import Store

__all__ = ["Migration", "apply_migrations", "discover_migrations"]

logger = logging.getLogger(__name__)
_NAME = re.compile(r"^(\d{4})_(\w+)$")


@dataclass(frozen=True)
class Migration:
    id: int
    name: str
    statements: tuple[str, ...]


def discover_migrations() -> list[Migration]:
    found = []
    for info in pkgutil.iter_modules(ingest.migrations.__path__):
        match = _NAME.match(info.name)
        if not match:
            continue
        module = importlib.import_module(f"ingest.migrations.{info.name}")
        found.append(Migration(int(match.group(1)), match.group(2), tuple(module.STATEMENTS)))
    return sorted(found, key=lambda m: m.id)


def apply_migrations(store: Store) -> list[int]:
    """Apply every migration not yet recorded; returns the ids applied now."""
    store.command(schema.schema_migrations_ddl())
    done = {int(row[0]) for row in store.query(f"SELECT id FROM {schema.SCHEMA_MIGRATIONS}")}
    applied = []
    for migration in discover_migrations():
        if migration.id in done:
            continue
        for statement in migration.statements:
            store.command(statement)
        store.insert(schema.SCHEMA_MIGRATIONS, [(migration.id, migration.name)], ["id", "name"])
        logger.info("applied migration %04d_%s", migration.id, migration.name)
        applied.append(migration.id)
    return applied
