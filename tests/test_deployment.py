"""The docker-compose stack as the README describes it: every service says when it is healthy,
the database is upgraded once before anything uses it, images are pinned, and the app and the
worker hold caremap's own Meilisearch key, never the master key."""

import re
from pathlib import Path

import yaml

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[1] / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_every_long_running_service_has_a_healthcheck():
    for name, service in SERVICES.items():
        if service.get("restart") != "no":  # `migrate` runs once and ends
            assert "healthcheck" in service, name


def test_migrations_run_once_before_the_app_and_the_worker():
    assert SERVICES["migrate"]["command"] == ["caremap", "db", "upgrade"]
    for name in ("app", "worker"):
        assert SERVICES[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }, name
        for other, wanted in SERVICES[name]["depends_on"].items():
            if other != "migrate":
                assert wanted == {"condition": "service_healthy"}, (name, other)


def test_images_are_pinned_to_a_release():
    """A release number (a minor release at least), never `latest` nor a moving major tag."""
    for name, service in SERVICES.items():
        if "image" in service:
            tag = service["image"].partition(":")[2]
            assert tag != "latest", name
            assert re.fullmatch(r"v?\d+\.\d+(\.\d+)?(-[a-z]+)?", tag), (name, tag)


def test_the_app_and_worker_use_caremaps_key_and_share_rate_limits():
    for name in ("app", "worker", "migrate"):
        environment = SERVICES[name]["environment"]
        assert "MEILI_MASTER_KEY" not in str(environment["MEILI_KEY"]), name
        assert environment["RATE_LIMIT_STORAGE"].startswith("redis://redis:"), name
    assert "MEILI_MASTER_KEY" in SERVICES["meilisearch"]["environment"]
