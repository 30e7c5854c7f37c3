"""Shared fixtures for the intake tests: two organisations, clean Redis, mail and the queue."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core import mail

from portal.celery import app as celery_app

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
    import requests_app.tasks  # noqa: F401  (registers the tasks, as a worker's autodiscovery does)

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
