"""Beat's scheduler: django-celery-beat's DatabaseScheduler, with a heartbeat.

CELERY_BEAT_SCHEDULER names it; the schedule lives in the database (the admin's
"Periodic tasks"), so beat needs no --schedule file.
"""

import socket
import time

from django_celery_beat.schedulers import DatabaseScheduler

from portal.heartbeat import INTERVAL, heartbeat_write


class HeartbeatScheduler(DatabaseScheduler):
    """django-celery-beat's DatabaseScheduler (CELERY_BEAT_SCHEDULER) that also beats."""

    _last_beat = 0.0

    def tick(self, *args, **kwargs):
        now = time.monotonic()
        if now - self._last_beat >= INTERVAL:
            self._last_beat = now
            heartbeat_write("beat", socket.gethostname())
        return super().tick(*args, **kwargs)
