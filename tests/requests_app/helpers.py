"""Small builders for the intake tests."""

from __future__ import annotations

from requests_app.services.requests import request_submit


def submit(org, *, kind="access", email="anna@example.org", **extra):
    """A request filed through the service with valid, normalised input."""
    values = {
        "organisation": org,
        "kind": kind,
        "email": email,
        "full_name": "Anna Andersson",
        "language": "sv",
        "details": {"format": "json", "categories": []} if kind == "access" else {},
    }
    values.update(extra)
    return request_submit(**values)
