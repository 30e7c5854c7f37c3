"""A Python client generated from /api/schema/ works against the live portal.

Issue 17: "Add a test that generates a Python client from `/api/schema/` with a
maintained generator. The generated client then files, verifies and reads a request,
and reads the staff queue with a token."

The generator is openapi-python-client (the dev extra installs it, so `make test` runs
this test; it is never skipped). It fetches the schema over HTTP from pytest-django's
`live_server` (a real server in a thread of this process, on the test database), the
client is generated into a temporary folder and imported, and every call below goes
through the generated functions and models: nothing is sent by hand.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from requests_app.services.staff_auth import api_token_issue
from tests.requests_app.conftest import last_code, run_queued_tasks

PACKAGE = "dsr_portal_client"
EMAIL = "anna.andersson@example.org"


@pytest.fixture
def generated(live_server, tmp_path):
    """The client package generated from the live server's schema, imported."""
    config = tmp_path / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run: the code is only imported
    generator = Path(sys.executable).parent / "openapi-python-client"
    run = subprocess.run(
        [
            str(generator),
            "generate",
            "--url",  # the generator fetches the schema from the live server
            f"{live_server.url}/api/schema/?format=json",
            "--output-path",
            str(tmp_path / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # A warning means an operation or a model was left out of the client.
    assert "warning" not in (run.stdout + run.stderr).lower(), run.stdout + run.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def module(name: str):
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_a_generated_client_files_verifies_and_reads_a_request_and_reads_the_queue(
    generated, live_server, org, staff, settings
):
    settings.INTAKE_RATE_LIMITS = {}
    public = generated.Client(base_url=live_server.url, raise_on_unexpected_status=True)
    models = module("models")

    # File a request.
    create = module("api.public_requests.requests_create")
    body = models.RequestCreate(
        organisation=org.slug,
        type_=models.TypeEnum.ACCESS,
        email=EMAIL,
        full_name="Anna Andersson",
        language=models.LanguageEnum.EN,
        categories=["contact"],
        format_="json",
    )
    filed = create.sync_detailed(client=public, body=body)
    assert filed.status_code == 201, filed.content
    created = filed.parsed
    assert isinstance(created, models.RequestCreated)
    assert created.status == models.StatusEnum.UNVERIFIED

    # Verify it with the code the e-mail carried.
    run_queued_tasks()  # the worker's part: the outbox message becomes the e-mail
    verify = module("api.public_requests.requests_verify")
    answer = verify.sync_detailed(
        client=public, reference=created.reference, body=models.Verify(code=last_code(EMAIL))
    )
    assert answer.status_code == 200, answer.content
    token = answer.parsed
    assert isinstance(token, models.Token) and token.token_type == "Bearer"

    # Read it back with the bearer token (the schema's `requestToken` scheme).
    person = generated.AuthenticatedClient(
        base_url=live_server.url, token=token.token, raise_on_unexpected_status=True
    )
    retrieve = module("api.public_requests.requests_retrieve")
    status = retrieve.sync(client=person, reference=created.reference)
    assert isinstance(status, models.RequestStatus)
    assert status.reference == created.reference
    assert status.status == models.StatusEnum.NEW
    assert status.type_ == models.TypeEnum.ACCESS
    assert "verified" in [event.event for event in status.history]
    # The token opens that request only, and nothing without it.
    assert retrieve.sync_detailed(client=public, reference=created.reference).status_code == 401

    # Read the staff queue with a staff API token (the schema's `staffToken` scheme).
    raw, _row = api_token_issue(user=staff["viewer"], name="generated client")
    staff_client = generated.AuthenticatedClient(
        base_url=live_server.url, token=raw, raise_on_unexpected_status=True
    )
    queue = module("api.staff_requests.staff_requests_list")
    page = queue.sync(client=staff_client, page_size=10)
    assert isinstance(page, models.PaginatedQueueItemList)
    assert page.count == 1 and page.next_ is None
    assert [item.reference for item in page.results] == [created.reference]
    assert page.results[0].type_ == models.TypeEnum.ACCESS
    # Past the last page: 404 in the API's error shape, parsed as such.
    missing = queue.sync_detailed(client=staff_client, page=2)
    assert missing.status_code == 404
    assert isinstance(missing.parsed, models.Error)
    assert missing.parsed.error.code == "not_found"
