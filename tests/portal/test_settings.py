"""Settings come from the environment and fail loudly, naming the variable.

(`manage.py check --deploy` with production settings: tests/portal/test_security.py.)
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
GOOD_KEY = "k7#Qp2!vZ9xL0m$Wc4rT8yB1nH6jF3sD5gA0eU7iO2pK9lM4qR"


def load_settings(**overrides: str) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter with exactly this environment."""
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": os.environ["REDIS_URL"],
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "false",
        "SECRET_KEY": GOOD_KEY,
        "ALLOWED_HOSTS": "portal.example.org",
    }
    env.update(overrides)
    env = {k: v for k, v in env.items() if v is not None and v != "<unset>"}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('ok')"],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_load_with_real_secrets():
    result = load_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"SECRET_KEY": "<unset>"}, "SECRET_KEY"),
        ({"SECRET_KEY": "django-insecure-" + "a" * 50}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"ALLOWED_HOSTS": "<unset>"}, "ALLOWED_HOSTS"),
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"DATABASE_URL": "<unset>"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://root@localhost/x"}, "DATABASE_URL"),
        ({"REDIS_URL": "<unset>"}, "REDIS_URL"),
        ({"REDIS_URL": "http://localhost"}, "REDIS_URL"),
        ({"TIME_ZONE": "Mars/Olympus"}, "TIME_ZONE"),
        ({"DATABASE_CONN_MAX_AGE": "forever"}, "DATABASE_CONN_MAX_AGE"),
        ({"CELERY_VISIBILITY_TIMEOUT": "soon"}, "CELERY_VISIBILITY_TIMEOUT"),
        ({"OUTBOX_REDELIVER_AFTER": "300"}, "OUTBOX_REDELIVER_AFTER"),  # not > visibility
        ({"OUTBOX_REDELIVER_MAX": "-1"}, "OUTBOX_REDELIVER_MAX"),
        ({"EMAIL_URL": "carrier-pigeon://x"}, "EMAIL_URL"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"SECRET_KEY_FILE": "/nonexistent/secret"}, "SECRET_KEY_FILE"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(overrides, variable):
    result = load_settings(**overrides)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{variable}:" in result.stderr


def test_the_secret_key_can_come_from_a_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text(GOOD_KEY + "\n")
    assert load_settings(SECRET_KEY="<unset>", SECRET_KEY_FILE=str(secret)).returncode == 0


def test_time_zone_defaults_to_stockholm():
    from django.conf import settings

    assert settings.TIME_ZONE == "Europe/Stockholm"
