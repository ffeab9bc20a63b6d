"""Leash ingest layer: settings, events, bus, store, the ingest API and the sink; imports nothing from detect."""
