"""Events, rejected events and the schema_migrations bookkeeping table."""

from ingest import schema

STATEMENTS = [schema.events_ddl(), schema.events_rejected_ddl()]
