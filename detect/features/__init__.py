"""Per-principal event-time windows and the feature vector (pure)."""
