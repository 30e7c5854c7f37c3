"""The fixtures of the request-workflow tests (plain helpers: `helpers.py`, imported by name).

- two organisations (`org`, `other_org`), and FRAMSTEGET with the demo people (`framsteget`);
- a user of every role with a confirmed TOTP device (`staff`, `outsider`,
  `framsteget_staff`) and clients signed in with both factors (`staff_client`);
- for every test: clean Redis, fast password hashing, a package directory of its own;
- running what the outbox published (`deliver`, `run_queued_tasks`).
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core import mail

import requests_app.tasks  # noqa: F401  (registers the tasks, as autodiscovery does)
from portal.celery import app as celery_app
from tests.requests_app.helpers import ROLES, signed_in, staff_user

POLICIES = Path(__file__).parent / "policies"


@pytest.fixture
def org(db):
    """Testbolaget: two categories; direct-marketing, legitimate-interest and consent purposes."""
    from retention.models import Organisation
    from retention.services.policies import policies_load

    policies_load(paths=[POLICIES / "testorg.yaml"])
    return Organisation.objects.get(slug="testorg")


@pytest.fixture
def other_org(db, tmp_path):
    """A second organisation with the same policy under another slug."""
    from retention.models import Organisation
    from retention.services.policies import policies_load

    text = (POLICIES / "testorg.yaml").read_text().replace("slug: testorg", "slug: otherorg")
    path = tmp_path / "otherorg.yaml"
    path.write_text(text)
    policies_load(paths=[path])
    return Organisation.objects.get(slug="otherorg")


@pytest.fixture
def framsteget(organisations):
    """FRAMSTEGET with the fixed demo people of `seed_demo` (Anna and the others)."""
    from retention.demo import demo_seed

    demo_seed(subjects=0)
    return organisations["framsteget"]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff(org, other_org):
    """{role: user} in `org` (Testbolaget)."""
    return {role: staff_user(role, [(org, role)]) for role in ROLES}


@pytest.fixture
def outsider(other_org):
    """An admin of the other organisation only."""
    return staff_user("outsider", [(other_org, "admin")])


@pytest.fixture
def framsteget_staff(framsteget):
    """{role: user} in FRAMSTEGET."""
    return {role: staff_user(f"{role}-fs", [(framsteget, role)]) for role in ROLES}


@pytest.fixture
def staff_client():
    """staff_client(user, reauth_age=0): a client signed in as `user` with both factors."""
    from django.test import Client

    def _make(user, **kwargs) -> Client:
        return signed_in(Client(), user, **kwargs)

    return _make


@pytest.fixture(autouse=True)
def package_dir(settings, tmp_path):
    """Every test writes its packages to a directory of its own."""
    settings.PACKAGE_DIR = tmp_path / "packages"
    return settings.PACKAGE_DIR


@pytest.fixture(autouse=True)
def clean_redis():
    """Each test starts with no rate-limit counters and an empty Celery queue."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield
    client.close()


def run_queued_tasks(redis_url: str | None = None) -> list[str]:
    """Consume the Celery messages waiting in Redis and run each task, as a worker would.

    Reads the real broker messages (protocol 2: body = [args, kwargs, embed]),
    so what runs is exactly what was published. Returns the task names run.
    """
    client = redis.Redis.from_url(redis_url or celery_app.conf.broker_url)
    ran = []
    try:
        while (raw := client.rpop("celery")) is not None:
            message = json.loads(raw)
            body = json.loads(base64.b64decode(message["body"]))
            args, kwargs, _embed = body
            name = message["headers"]["task"]
            celery_app.tasks[name].run(*args, **kwargs)
            ran.append(name)
    finally:
        client.close()
    return ran


@pytest.fixture
def deliver(django_capture_on_commit_callbacks):
    """Run the on-commit relay of what a block did, then the tasks it published.

    with deliver():
        client.post(...)
    """
    from contextlib import contextmanager

    @contextmanager
    def _deliver():
        with django_capture_on_commit_callbacks(execute=True):
            yield
        # Tasks may write to the outbox again (a confirmation after a code): drain to the end.
        for _round in range(5):
            with django_capture_on_commit_callbacks(execute=True):
                ran = run_queued_tasks()
            if not ran:
                break

    return _deliver


def last_code(to: str | None = None) -> str:
    """The 6-digit code of the last verification e-mail (to `to`)."""
    for message in reversed(mail.outbox):
        if to is None or to in message.to:
            match = re.search(r"^\s{4}(\d{6})$", message.body, re.MULTILINE)
            if match:
                return match.group(1)
    raise AssertionError("no verification e-mail was sent")


def valid_personnummer() -> str:
    """A real-format personnummer with a correct check digit (Skatteverket's test range)."""
    return "19811218-9876"
