"""Fixtures shared with the request-workflow tests: the two test organisations."""

from tests.requests_app.conftest import org, other_org  # noqa: F401
