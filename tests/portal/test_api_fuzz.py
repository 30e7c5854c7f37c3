"""API fuzzing: schemathesis generates requests from our own OpenAPI schema (/api/schema/).

For every operation of the public, staff and record-store APIs it sends a
bounded number of generated requests (valid and invalid ones) to the running
app (the real WSGI application in this process, on the test database and
Redis) and checks every answer: never a 5xx, a status code the schema
documents, a documented content type and headers, and a body that matches
the documented schema.

Generation is deterministic (`derandomize`), so a failure reproduces; a
failing case is printed with a curl command. Operations on a request are
also fuzzed with a real reference (and, on the request API, a valid bearer
token), so the generated input reaches past the 404s into the views' work.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from requests_app.models import StatusToken
from requests_app.services.staff_auth import api_token_issue
from requests_app.services.tokens import status_token_issue
from retention.services.api_tokens import api_token_create
from tests.requests_app.conftest import (  # noqa: F401  (autouse)
    clean_redis,
    fast_password_hashing,
)
from tests.requests_app.helpers import make_request, make_subject_with_records

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
FUZZ = hypothesis_settings(
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def api_schema(db, org, staff, settings):
    """The schema as the app serves it, bound to the app's WSGI handler."""
    settings.INTAKE_RATE_LIMITS = {}  # every generated request reaches the view
    # As Django's test client does: the test's transaction must outlive each request.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fixtures(org, other_org, staff, organisations):
    """Tokens, and `real(operation)`: real objects for one operation's generated requests.

    The five customer organisations are loaded too: the schema's examples name them."""
    staff_token, _token = api_token_issue(user=staff["admin"], name="fuzz")
    store_token = api_token_create(organisation=org, name="fuzz")

    def real(operation) -> dict:
        """Fixed parameters naming real objects: a new request for each operation (so
        one operation's actions do not leave the next a closed request), a bearer token
        for the request API, the staff's organisation for the staff API's organisation
        operations, a direct-marketing purpose for the record-store API."""
        fixed = {}
        if "{reference}" in operation.path:
            request = make_request(org, kind="access")
            make_subject_with_records(request, records=2)
            fixed["path_parameters"] = {"reference": request.reference}
            if "{match_id}" in operation.path:
                fixed["path_parameters"]["match_id"] = request.matches.get().pk
            if operation.path == "/api/v1/requests/{reference}":
                token, _row = status_token_issue(request=request, kind=StatusToken.Kind.API)
                fixed["headers"] = {"Authorization": f"Bearer {token}"}
        if "{org_slug}" in operation.path:
            fixed["path_parameters"] = {"org_slug": org.slug}
        if operation.path.startswith("/api/v1/store/") and "purpose" in {
            parameter.name for parameter in operation.query
        }:
            fixed["query"] = {"purpose": "marketing"}
        return fixed

    return {"staff_token": staff_token, "store_token": store_token, "real": real}


def strategies(operation, fixtures):
    """(label, examples, strategy): valid and invalid requests, mostly on real objects,
    and briefly with every parameter generated."""
    real = fixtures["real"](operation)
    documented = operation.schema.get_strategies_from_examples(operation)
    if documented:
        yield "documented examples", 5, st.one_of(documented)
    yield "valid", 20, operation.as_strategy(GenerationMode.POSITIVE, **real)
    # Invalid input needs something left to make invalid: a body or a query parameter.
    if list(operation.body) or list(operation.query):
        yield "invalid", 10, operation.as_strategy(GenerationMode.NEGATIVE, **real)
    if real:
        yield "generated", 5, operation.as_strategy(GenerationMode.POSITIVE)


def fuzz(schema, fixtures, *, path_regex: str, token: str | None = None) -> int:
    """Run every operation under `path_regex`; fail with every failing operation's report."""
    selected = schema.include(path_regex=path_regex)
    operations = [result.ok() for result in selected.get_all_operations()]
    assert operations, f"no operation matches {path_regex}"
    headers = {"Authorization": f"Bearer {token}"} if token else None
    failures = []
    answers = defaultdict(Counter)
    for operation in operations:
        for label, examples, strategy in strategies(operation, fixtures):

            @hypothesis_settings(FUZZ, max_examples=examples)
            @given(case=strategy)
            def run(case):
                response = case.call_and_validate(headers=headers, checks=CHECKS)
                answers[operation.label][response.status_code] += 1  # noqa: B023  (run now)

            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:  # every operation is reported
                failures.append(f"{operation.label} ({label}):\n{exc}")
    assert not failures, "\n\n".join(failures)
    for label, counts in answers.items():
        print(label, dict(sorted(counts.items())))  # shown with -rP
    reached = [label for label, counts in answers.items() if any(200 <= c < 300 for c in counts)]
    assert reached, "no generated request got past validation: the fuzzing tested nothing"
    return len(operations)


def test_the_public_request_api_keeps_to_its_schema(api_schema, fixtures):
    assert fuzz(api_schema, fixtures, path_regex=r"^/api/v1/requests") >= 4


def test_the_staff_api_keeps_to_its_schema(api_schema, fixtures):
    token = fixtures["staff_token"]
    assert fuzz(api_schema, fixtures, path_regex=r"^/api/v1/staff/", token=token) >= 12


def test_the_record_store_api_keeps_to_its_schema(api_schema, fixtures):
    token = fixtures["store_token"]
    assert fuzz(api_schema, fixtures, path_regex=r"^/api/v1/store/", token=token) == 3
