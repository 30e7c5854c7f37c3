"""The Celery application: workers and beat read their configuration from Django settings."""

import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

from portal.heartbeat import WorkerHeartbeat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact(logger, **kwargs):
    """Celery sets up its own handlers (worker, beat): they redact too (portal/logs.py), so
    a failed or retried task is logged with its exception's class and ids only."""
    from portal.logs import redact_handlers

    redact_handlers(logger)


# Workers write a heartbeat that /healthz reads without a broadcast ping (portal/heartbeat.py).
app.steps["worker"].add(WorkerHeartbeat)
