"""Labelled evaluation of detection (`leash eval`): generated traffic and real datasets."""

__all__ = ["generator", "runner"]
