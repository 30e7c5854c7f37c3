"""Settings come from the environment and fail loudly, naming the variable.

(`manage.py check --deploy` with production settings: tests/portal/test_security.py.)
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.portal.conftest import PRODUCTION_HMAC_KEYS

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
        **PRODUCTION_HMAC_KEYS,
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
        ({"HMAC_KEYS_TOMBSTONE": "<unset>"}, "HMAC_KEYS_TOMBSTONE"),
        ({"HMAC_KEYS_SUPPRESSION": "<unset>"}, "HMAC_KEYS_SUPPRESSION"),
        ({"HMAC_KEYS_TOKEN": "<unset>"}, "HMAC_KEYS_TOKEN"),
        ({"HMAC_KEYS_TOKEN": "no-id-just-key"}, "HMAC_KEYS_TOKEN"),
        ({"HMAC_KEYS_TOKEN": "k1:c2hvcnQ"}, "HMAC_KEYS_TOKEN"),  # 5 bytes
        ({"HMAC_KEYS_TOKEN": "bad id!:" + "A" * 43}, "HMAC_KEYS_TOKEN"),
        ({"HMAC_KEYS_TOKEN": f"k1:{'A' * 43},k1:{'B' * 43}"}, "HMAC_KEYS_TOKEN"),
        ({"HMAC_KEYS_TOKEN_FILE": "/nonexistent/keys"}, "HMAC_KEYS_TOKEN_FILE"),
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


def test_the_hash_keys_can_come_from_files(tmp_path):
    overrides = {}
    for name, value in PRODUCTION_HMAC_KEYS.items():
        (tmp_path / name).write_text(value + "\n")
        overrides[name] = "<unset>"
        overrides[f"{name}_FILE"] = str(tmp_path / name)
    assert load_settings(**overrides).returncode == 0


def test_an_error_about_a_hash_key_never_shows_the_key():
    secret = "k1:c2hvcnQ"  # too short: refused
    result = load_settings(HMAC_KEYS_TOKEN=f"k0:{'Q' * 43},{secret}")
    assert "HMAC_KEYS_TOKEN:" in result.stderr
    assert "c2hvcnQ" not in result.stderr and "Q" * 43 not in result.stderr


def test_time_zone_defaults_to_stockholm():
    from django.conf import settings

    assert settings.TIME_ZONE == "Europe/Stockholm"


def environment_variables_read_by_settings() -> set[str]:
    """The names portal/settings.py reads from the environment (as the first argument of
    its readers: `_get("NAME", ...)`, `_bool("NAME", ...)`, `env.str("NAME", ...)`, ...)."""
    import re

    source = (BASE_DIR / "portal" / "settings.py").read_text()
    readers = r"(?:_get|_bool|_secret|env(?:\.\w+)?)"
    return set(re.findall(readers + r'\(\s*"([A-Z][A-Z0-9_]+)"', source))


def test_the_readme_configuration_table_lists_every_variable_the_settings_read():
    """Issue 17: "The README's Configuration ... sections match what the code does"."""
    import re

    readme = (BASE_DIR / "README.md").read_text()
    section = readme[
        readme.index("## Configuration") : readme.index(
            "\n## ", readme.index("## Configuration") + 1
        )
    ]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", section))
    read = environment_variables_read_by_settings()
    assert len(read) > 40
    assert not read - documented, "read by portal/settings.py, missing from the README"
