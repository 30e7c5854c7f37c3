"""Logs hold no personal data and no secrets: the filter every handler of ours carries.

Our own code never passes personal data to a logger (ids, counts and class names
only). What it cannot control is what other code puts into a record:

- an exception's message and repr: `SMTPRecipientsRefused({'anna@example.org': ...})`,
  an IntegrityError's "Key (email)=(...)", a ValidationError with the value. Django
  logs a 500 with its traceback (`django.request`), Celery a failed or retried
  task with `repr(exc)` (`celery.app.trace`), and `logger.exception` anywhere
  appends the message. `RedactFilter` keeps the traceback's frames (file, line,
  function: code, no data) and replaces every message with the exception's class;
- a URL with its query string (`?t=` link tokens, `?q=` staff searches):
  gunicorn's error log names the request URI. The filter cuts any query string
  off a string argument that is a path or URL. (The access log has a format of
  its own without the query string: `portal/gunicorn_conf.py`.)

It is installed on the console handler by `LOGGING` (web processes, commands),
on Celery's handlers by `portal.celery` (worker and beat) and on gunicorn's by
its config.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback

WITHHELD = "(message withheld)"
# A path or URL followed by a query string: the query string goes.
_QUERY = re.compile(r"((?:https?://|/)[^\s?#\"']*)\?[^\s\"']*")


def exception_name(exc: BaseException) -> str:
    cls = type(exc)
    module = cls.__module__
    return (
        cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"
    )


def _chain(exc: BaseException | None) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return list(reversed(seen))


def redacted_traceback(exc: BaseException) -> str:
    """The traceback of `exc` (and what caused it) with every message replaced by its class."""
    parts = []
    for index, item in enumerate(_chain(exc)):
        if index:
            parts.append("\nThe above exception led to the following one:\n\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(item.__traceback__))
        parts.append(f"{exception_name(item)}: {WITHHELD}\n")
    return "".join(parts).rstrip("\n")


def _celery_exception_text(record: logging.LogRecord) -> str:
    """What Celery's task messages say instead of `repr(exc)`: the class only."""
    if record.exc_info and record.exc_info[1] is not None:
        return exception_name(record.exc_info[1])
    current = sys.exc_info()[1]  # a retry is logged while its Retry is being handled
    original = getattr(current, "exc", None)
    if isinstance(original, BaseException):
        return f"{exception_name(original)}, retrying"
    if current is not None:
        return exception_name(current)
    return WITHHELD


def _without_query(value):
    if not isinstance(value, str) or "?" not in value:
        return value
    if value.startswith(("/", "http://", "https://")):  # an argument that is a URL: all of it
        return value.split("?", 1)[0]
    return _QUERY.sub(r"\1", value)


class RedactFilter(logging.Filter):
    """Replace exception messages by their class and cut query strings (see the module)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict) and "exc" in record.args:  # celery.app.trace
            args = dict(record.args)
            args["exc"] = _celery_exception_text(record)
            args.pop("traceback", None)
            record.args = args
            if isinstance(getattr(record, "data", None), dict):
                record.data = args
        elif isinstance(record.args, tuple):
            record.args = tuple(_without_query(arg) for arg in record.args)
        record.msg = _without_query(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redacted_traceback(record.exc_info[1])
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = WITHHELD
        return True


def redact_handlers(logger: logging.Logger) -> None:
    """Put `RedactFilter` on every handler of `logger` (once)."""
    for handler in logger.handlers:
        if not any(isinstance(f, RedactFilter) for f in handler.filters):
            handler.addFilter(RedactFilter())
