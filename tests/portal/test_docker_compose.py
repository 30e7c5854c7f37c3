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


def test_every_long_running_service_has_a_health_check():
    for name in ("web", "worker", "beat", "postgres", "redis", "mailpit"):
        assert "healthcheck" in COMPOSE["services"][name], name


def test_every_image_is_pinned_to_a_version():
    """`latest` changes under us; each image names the version it was tested with."""
    for name, service in COMPOSE["services"].items():
        image = service.get("image", "")
        if name in ("web", "worker", "beat", "migrate"):
            continue  # built from this repository
        assert ":" in image and not image.endswith(":latest"), name
    assert COMPOSE["services"]["mailpit"]["image"].startswith("axllent/mailpit:v1.")


def test_web_is_checked_for_liveness_and_workers_and_beat_by_their_heartbeats():
    """Issue 17: a database or worker outage must not get web marked unhealthy, and no
    health check sends a broadcast ping."""
    services = COMPOSE["services"]
    assert "/healthz/live" in " ".join(services["web"]["healthcheck"]["test"])
    assert services["worker"]["healthcheck"]["test"][-3:] == ["-m", "portal.heartbeat", "worker"]
    assert services["beat"]["healthcheck"]["test"][-3:] == ["-m", "portal.heartbeat", "beat"]
    assert "inspect ping" not in (BASE_DIR / "docker-compose.yml").read_text()


def test_beat_has_no_schedule_file_under_the_database_scheduler():
    """`--schedule` names a shelve file that DatabaseScheduler never reads."""
    from django.conf import settings

    assert settings.CELERY_BEAT_SCHEDULER == "portal.beat:HeartbeatScheduler"
    assert "--schedule" not in COMPOSE["services"]["beat"]["command"]
    assert '"--schedule"' not in (BASE_DIR / "portal" / "stack.py").read_text()


def test_production_compose_seeds_no_demo_data_and_no_demo_account():
    """DEBUG is false in docker-compose.yml: no demo data, no demo staff account. The demo
    is an override file that turns DEBUG on."""
    services = COMPOSE["services"]
    assert services["web"]["environment"]["DEBUG"] == "false"
    migrate = services["migrate"]["command"]
    assert "seed_demo" not in migrate and "ensure_demo_staff" not in migrate
    demo = yaml.safe_load((BASE_DIR / "docker-compose.demo.yml").read_text())["services"]
    assert "seed_demo" in demo["migrate"]["command"]
    assert "ensure_demo_staff" in demo["migrate"]["command"]
    assert "load_policies" in demo["migrate"]["command"]
    for name in ("migrate", "web", "worker", "beat"):
        assert demo[name]["environment"]["DEBUG"] == "true", name


def test_data_lives_in_volumes():
    assert {"pgdata", "redisdata"} <= set(COMPOSE["volumes"])


def test_workers_can_scale_because_none_has_a_fixed_name_or_port():
    worker = COMPOSE["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker


def test_e_mail_goes_to_mailpit():
    assert COMPOSE["services"]["web"]["environment"]["EMAIL_URL"] == "smtp://mailpit:1025"


BASE_DIR = Path(__file__).resolve().parents[2]
APP_SERVICES = ("web", "worker", "beat")


def test_web_worker_and_beat_connect_as_the_app_role_and_only_migrate_as_the_owner():
    """Issue 12 §8: the app's role must not own the audit table."""
    services = COMPOSE["services"]
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://portal_app:"), name
        assert "DATABASE_OWNER_URL" not in env, name
    migrate = services["migrate"]["environment"]
    assert migrate["DATABASE_OWNER_URL"].startswith("postgres://portal_owner:")
    assert migrate["DATABASE_URL"].startswith("postgres://portal_app:")
    assert "manage.py migrate" in services["migrate"]["command"]


def test_postgres_creates_both_roles_on_first_start():
    postgres = COMPOSE["services"]["postgres"]
    assert "./docker/postgres/initdb:/docker-entrypoint-initdb.d:ro" in postgres["volumes"]
    script = (BASE_DIR / "docker" / "postgres" / "initdb" / "10-roles.sh").read_text()
    assert "portal_owner" in script and "portal_app" in script
    assert "-h 127.0.0.1" in " ".join(postgres["healthcheck"]["test"])  # not the init server


def test_every_secret_comes_from_the_env_file_and_is_required():
    env = COMPOSE["services"]["web"]["environment"]
    for name in ("SECRET_KEY", "HMAC_KEYS_TOMBSTONE", "HMAC_KEYS_SUPPRESSION", "HMAC_KEYS_TOKEN"):
        assert env[name].startswith(f"${{{name}:?"), name
    postgres = COMPOSE["services"]["postgres"]["environment"]
    for name in ("POSTGRES_PASSWORD", "PORTAL_OWNER_PASSWORD", "PORTAL_APP_PASSWORD"):
        assert postgres[name].startswith(f"${{{name}:?"), name


def test_every_access_log_we_start_records_paths_only():
    """Issue 12 §7: query strings hold e-mail link tokens (?t=) and staff searches (?q=)."""
    from portal import gunicorn_conf

    fmt = gunicorn_conf.access_log_format
    assert "%(U)s" in fmt  # gunicorn: the path, without the query string
    for atom in ("%(q)s", "%(r)s", "%(f)s", "%(a)s", "%(h)s", "%({"):
        assert atom not in fmt, atom
    config = ["--config", "python:portal.gunicorn_conf"]
    web = COMPOSE["services"]["web"]["command"]
    assert web[:2] == ["gunicorn", "portal.wsgi"] and _contains(web, config)
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    assert '"--config", "python:portal.gunicorn_conf"' in dockerfile.split("CMD", 1)[1]
    stack = (BASE_DIR / "portal" / "stack.py").read_text()
    assert '"python:portal.gunicorn_conf"' in stack and "--access-logformat" not in stack


def _contains(seq: list, sub: list) -> bool:
    return any(seq[i : i + len(sub)] == sub for i in range(len(seq)))
