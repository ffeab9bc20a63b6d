"""Leash detect layer."""
