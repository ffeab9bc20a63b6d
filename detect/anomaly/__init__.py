"""Anomaly detection: per-principal baselines, the isolation forest, training history."""
