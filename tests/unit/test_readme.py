"""The README's configuration table names every LEASH_ setting (PostHog-style consistency)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from detect.settings import DetectSettings
from ingest.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def env_names(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str]]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from env_names(annotation, f"{prefix}{name.upper()}__")
        else:
            yield f"{prefix}{name.upper()}", name.upper()


def test_every_setting_is_documented() -> None:
    missing = []
    for full, short in env_names(Settings, "LEASH_"):
        nested_short = "__" + short
        if full not in README and (full.count("__") == 0 or nested_short not in README):
            missing.append(full)
    assert missing == []


def test_every_detection_setting_is_documented() -> None:
    missing = [name.upper() for name in DetectSettings.model_fields if name.upper() not in README]
    assert missing == []
