"""Leash dashboard layer."""
