"""Small YAML settings files (keys, webhook routes): read one list, check string lists.

Errors are raised as the caller's own error type, with messages that name the file, the
entry and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["string_list", "yaml_list"]


def yaml_list(path: Path, key: str, what: str, error: type[ValueError]) -> list[Any]:
    """The non-empty list under `key:` in the YAML file at `path` (`what` names the file)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise error(f"{what} {path} is not valid YAML: {exc}") from None
    items = document.get(key) if isinstance(document, dict) else None
    if not isinstance(items, list) or not items:
        raise error(f"{what} {path} needs a non-empty list under '{key}:'")
    return items


def string_list(
    item: dict[str, Any], field: str, where: str, error: type[ValueError], hint: str = "strings"
) -> tuple[str, ...]:
    """`item[field]` as a tuple of non-empty strings (missing: empty)."""
    value = item.get(field, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise error(f"{where}: {field} must be a list of {hint}")
    return tuple(value)
