"""docker-compose.yml: parses, runs real entry points, and sets only known settings.

No Docker engine runs here, so the file is checked statically against the code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from wxstream.cli import build_parser
from wxstream.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _wxstream_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("image", "").startswith("wxstream")
    }


def test_compose_has_expected_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"kafka", "topics", "ingest", "worker"}
    assert compose["services"]["kafka"]["image"].startswith("apache/kafka:4.")
    assert "kafka-data" in compose["volumes"]


def test_compose_commands_are_real_entry_points(compose: dict[str, Any]) -> None:
    parser = build_parser()
    services = _wxstream_services(compose)
    assert set(services) == {"topics", "ingest", "worker"}

    for name, service in services.items():
        command = service["command"]
        assert command[0] == "wxstream", name
        args = parser.parse_args(command[1:])
        assert callable(args.handler), name


def test_compose_sets_only_known_settings(compose: dict[str, Any]) -> None:
    known = {ENV_PREFIX + field.upper() for field in Settings.model_fields}

    for name, service in _wxstream_services(compose).items():
        variables = set(service["environment"])
        assert variables, name
        unknown = {variable for variable in variables if variable not in known}
        assert unknown == set(), f"{name} sets unknown variables {unknown}"


def test_compose_services_have_health_checks(compose: dict[str, Any]) -> None:
    assert "healthcheck" in compose["services"]["kafka"]
    assert "healthcheck" in compose["services"]["ingest"]
    topics_dependency = compose["services"]["worker"]["depends_on"]["topics"]
    assert topics_dependency["condition"] == "service_completed_successfully"


def test_compose_dockerfile_installs_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()

    for package in ("schemas", "ingest", "processors", "wxstream"):
        assert f"COPY {package} ./{package}" in dockerfile
