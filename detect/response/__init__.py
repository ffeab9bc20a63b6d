"""Response: principal states, revokers, signed webhooks and their outbox."""
