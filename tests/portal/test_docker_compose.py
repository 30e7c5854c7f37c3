"""docker-compose.yml describes the same stack (no Docker engine runs here, so
the file is checked as data: services, health checks, volumes, scaling)."""

from pathlib import Path

import yaml

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())


def test_it_has_every_service_of_the_stack():
    assert {"web", "worker", "beat", "postgres", "redis", "mailpit"} <= set(COMPOSE["services"])


def test_it_uses_postgres_16_and_redis_7():
    assert COMPOSE["services"]["postgres"]["image"] == "postgres:16"
    assert COMPOSE["services"]["redis"]["image"] == "redis:7"


def test_every_long_running_service_but_beat_has_a_health_check():
    for name in ("web", "worker", "postgres", "redis", "mailpit"):
        assert "healthcheck" in COMPOSE["services"][name], name


def test_data_lives_in_volumes():
    assert {"pgdata", "redisdata"} <= set(COMPOSE["volumes"])


def test_workers_can_scale_because_none_has_a_fixed_name_or_port():
    worker = COMPOSE["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker


def test_e_mail_goes_to_mailpit():
    assert COMPOSE["services"]["web"]["environment"]["EMAIL_URL"] == "smtp://mailpit:1025"
