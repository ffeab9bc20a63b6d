"""Alerts: findings grouped into incidents, the alert store, suppression and feedback."""
