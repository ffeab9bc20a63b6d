"""Labelled episodes: incidents (should page) and benign-but-unusual traps (should not)."""
