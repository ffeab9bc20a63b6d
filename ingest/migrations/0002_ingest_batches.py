"""Hash-chained ingest batches for `leash verify`."""

from ingest import schema

STATEMENTS = [schema.batches_ddl()]
