"""gunicorn's settings for every web process we start: the image (Dockerfile), docker
compose and `make run` (portal/stack.py) all run `gunicorn -c python:portal.gunicorn_conf`.

The access log records the method, the path without its query string (%(U)s), the
status, the size and the time: no query string (e-mail link tokens `?t=`, staff
searches by name or e-mail `?q=`), no client address, no referrer, no user agent.
gunicorn's error log gets the same redaction as ours (portal/logs.py).
"""

accesslog = "-"
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'


def on_starting(server):  # noqa: ARG001  (gunicorn's hook signature)
    import logging

    from portal.logs import redact_handlers

    for name in ("gunicorn.error", "gunicorn.access"):
        redact_handlers(logging.getLogger(name))
