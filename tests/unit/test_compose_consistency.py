"""compose.yaml agrees with the code: LEASH_ names are Settings fields, topics are the defaults."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from ingest import schema
from ingest.settings import KafkaSettings, Settings
from tests.integration.containers import CLICKHOUSE_IMAGE

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def leash_env() -> dict[str, str]:
    """Every LEASH_ variable any service sets (after YAML merges), name -> value."""
    found: dict[str, str] = {}
    for service in compose()["services"].values():
        for name, value in (service.get("environment") or {}).items():
            if name.startswith("LEASH_"):
                found[name] = str(value)
    return found


def is_settings_field(env_name: str, model: type[BaseModel] = Settings) -> bool:
    head, _, rest = env_name.lower().partition("__")
    field = model.model_fields.get(head)
    if field is None:
        return False
    if not rest:
        return True
    nested = field.annotation
    return (
        isinstance(nested, type)
        and issubclass(nested, BaseModel)
        and is_settings_field(rest.upper(), nested)
    )


def test_every_leash_variable_is_a_settings_field() -> None:
    names = leash_env()
    assert {"LEASH_BUS_URL", "LEASH_STORE_URL", "LEASH_API_KEYS", "LEASH_KAFKA__TOPIC"} <= set(
        names
    )
    unknown = [n for n in names if not is_settings_field(n.removeprefix("LEASH_"))]
    assert unknown == []


def test_the_checker_rejects_names_that_are_not_fields() -> None:
    assert not is_settings_field("KAFKA__TOPICS")
    assert not is_settings_field("BUS")
    assert is_settings_field("SINK__MAX_ROWS")


def test_topics_and_groups_equal_the_defaults_and_schema_constants() -> None:
    env, defaults = leash_env(), KafkaSettings()
    assert env["LEASH_KAFKA__TOPIC"] == defaults.topic == schema.EVENTS_TOPIC
    assert env["LEASH_KAFKA__DLQ_TOPIC"] == defaults.dlq_topic == schema.DLQ_TOPIC
    assert env["LEASH_KAFKA__GROUP_ID"] == defaults.group_id
    assert env["LEASH_KAFKA__DETECT_GROUP_ID"] == defaults.detect_group_id
    assert env["LEASH_BUS_URL"].startswith("kafka://kafka:")
    assert env["LEASH_STORE_URL"].startswith("clickhouse://")


def test_images_are_pinned_and_every_service_has_a_healthcheck() -> None:
    services = compose()["services"]
    for name, service in services.items():
        assert "healthcheck" in service, name
        image = service.get("image", "")
        if "/" in image:
            assert ":" in image and not image.endswith(":latest"), image
    assert services["clickhouse"]["image"] == CLICKHOUSE_IMAGE
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert {"api", "sink", "detect", "dashboard"} <= set(services)


def test_docker_compose_validates_the_file() -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose not installed (apt-get install -y docker-compose)")
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "validate-compose.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
