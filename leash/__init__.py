"""Composition root of the `leash` command: argument parsing and app assembly, no logic."""
