"""Leash ingest layer: settings, events, bus, store, ingest API and sink (never imports detect)."""
