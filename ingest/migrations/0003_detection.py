"""Detection: alerts, their status changes and the trained detector versions."""

from ingest import schema

STATEMENTS = [schema.alerts_ddl(), schema.alert_status_ddl(), schema.detector_models_ddl()]
