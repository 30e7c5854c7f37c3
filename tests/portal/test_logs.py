"""The redaction every log handler of ours carries (portal/logs.py): exception messages
become their class, query strings are cut. (The whole flow with real processes:
tests/portal/test_abuse_logs.py.)"""

from __future__ import annotations

import io
import logging
import smtplib
import sys

import pytest
from celery.app import trace
from celery.exceptions import Retry
from django.test import Client
from django.urls import path

from portal import urls as portal_urls
from portal.logs import RedactFilter, redacted_traceback

EMAIL = "anna.andersson@example.org"


@pytest.fixture
def console():
    """The console handler LOGGING configures (web processes, commands), writing to a buffer."""
    handlers = [
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, RedactFilter) for f in h.filters)
    ]
    assert handlers, "LOGGING puts RedactFilter on the console handler"
    handler = handlers[0]
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)


def refused() -> smtplib.SMTPRecipientsRefused:
    return smtplib.SMTPRecipientsRefused({EMAIL: (550, f"5.1.1 <{EMAIL}>: unknown".encode())})


def test_an_exception_is_logged_with_its_class_and_frames_but_not_its_message(console):
    try:
        try:
            raise refused()
        except smtplib.SMTPRecipientsRefused as exc:
            raise RuntimeError(f"could not mail {EMAIL}") from exc
    except RuntimeError:
        logging.getLogger("requests_app.test").exception("sending failed for request %s", 42)

    text = console.getvalue()
    assert EMAIL not in text
    assert "sending failed for request 42" in text
    assert "smtplib.SMTPRecipientsRefused: (message withheld)" in text
    assert "RuntimeError: (message withheld)" in text
    assert "test_logs.py" in text  # the frames stay: where it happened


def test_celery_logs_a_failed_task_with_the_class_and_ids_only(console):
    """celery.app.trace formats `repr(exc)` into its message: the filter replaces it."""
    try:
        raise refused()
    except smtplib.SMTPRecipientsRefused:
        exc_info = sys.exc_info()
    context = {
        "hostname": "w",
        "id": "task-id-1",
        "name": "requests_app.tasks.send_verification_email",
        "exc": repr(exc_info[1]),
        "traceback": "Traceback ... " + repr(exc_info[1]),
        "args": "()",
        "kwargs": "{'request_id': 7}",
        "description": "raised unexpected",
        "internal": False,
    }
    logging.getLogger("celery.app.trace").log(
        logging.ERROR, trace.LOG_FAILURE.strip(), context, exc_info=exc_info
    )

    text = console.getvalue()
    assert EMAIL not in text
    assert (
        "send_verification_email[task-id-1] raised unexpected: smtplib.SMTPRecipientsRefused"
        in (text)
    )


def test_celery_logs_a_retry_with_the_class_only(console):
    try:
        try:
            raise refused()
        except smtplib.SMTPRecipientsRefused as exc:
            raise Retry(exc=exc, when=4) from exc
    except Retry as reason:
        trace.info(trace.LOG_RETRY, {"id": "task-id-2", "name": "t", "exc": str(reason)})

    text = console.getvalue()
    assert EMAIL not in text
    assert "t[task-id-2] retry: smtplib.SMTPRecipientsRefused, retrying" in text


def test_a_query_string_never_reaches_a_log_line(console):
    logging.getLogger("gunicorn.error").error(
        "Error handling request %s", "/testorg/requests/DSR-1/open/?t=secret-token"
    )
    logging.getLogger("x").warning("GET http://h/staff/?q=anna%40example.org failed")
    text = console.getvalue()
    assert "secret-token" not in text and "anna" not in text
    assert "Error handling request /testorg/requests/DSR-1/open/" in text


def _boom(request):
    raise ValueError(f"no such person {EMAIL}")


# The portal's own URLs too: the 500 page links to the front door and the language switch.
urlpatterns = [path("boom/", _boom), *portal_urls.urlpatterns]


def test_a_server_error_is_logged_without_the_exceptions_message(console, settings):
    """django.request logs every 500 with its traceback."""
    settings.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)
    assert client.get("/boom/?q=" + EMAIL).status_code == 500
    text = console.getvalue()
    assert "Internal Server Error: /boom/" in text
    assert "ValueError: (message withheld)" in text
    assert EMAIL not in text


def test_the_redacted_traceback_keeps_only_classes_of_a_chain():
    try:
        raise KeyError(EMAIL)
    except KeyError as exc:
        text = redacted_traceback(exc)
    assert EMAIL not in text and text.endswith("KeyError: (message withheld)")
