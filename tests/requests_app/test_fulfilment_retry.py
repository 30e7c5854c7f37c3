"""When the workers give up: an erasure job that failed JOB_MAX_ATTEMPTS times, or a package
that could not be built, leaves the request `fulfilling`. Staff see what failed, when and how
often (never more of the error than its class name), the approvers' digest lists it, and an
approver hands it to the workers again once the cause is fixed, on the page or over the API;
the request then completes itself as usual. Nothing else can be retried."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from requests_app.models import DataPackage, Fulfilment, RequestStatus, SubjectRequest
from requests_app.services import fulfilment as ff
from requests_app.services import packages
from requests_app.services import staff as svc
from requests_app.services.staff_auth import api_token_issue
from requests_app.services.staff_digest import deadline_digest_send
from retention.models import AuditEntry, Record, RecordStoreJob
from retention.services.jobs import job_claim, job_fail, jobs_reclaimable
from tests.conftest import start_worker, stop_worker
from tests.requests_app.helpers import (
    approved_request,
    customer,
    make_request,
    messages_of,
    verified_request,
)
from tests.requests_app.test_fulfilment_views import duplicate_ids
from tests.waiting import wait_for

S = RequestStatus
EMAIL = "anna@example.org"
ALL = {"scope": "all", "categories": []}


def job_of(request) -> RecordStoreJob:
    return Fulfilment.objects.select_related("job").get(request=request).job


def audited(action: str, request) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(
            action=action, object_type="subject_request", object_id=str(request.pk)
        )
    )


def page_of(client: Client, request) -> str:
    url = reverse("staff:detail", kwargs={"reference": request.reference})
    response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    return response.content.decode()


def retry_url(request) -> str:
    return reverse("staff:fulfilment", kwargs={"reference": request.reference, "name": "retry"})


@pytest.fixture(autouse=True)
def two_attempts(settings):
    """The workers give up after two failed runs (the tests and the worker processes)."""
    settings.JOB_MAX_ATTEMPTS = 2


@pytest.fixture
def api(staff, outsider):
    """`api(role)`: a client with that role's staff API token (`"outsider"`: other org)."""

    def _client(role: str) -> Client:
        user = outsider if role == "outsider" else staff[role]
        raw, _token = api_token_issue(user=user, name="test")
        return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    return _client


def api_retry(client: Client, request):
    return client.post(
        f"/api/v1/staff/requests/{request.reference}/retry", {}, content_type="application/json"
    )


def api_detail(client: Client, request) -> dict:
    response = client.get(f"/api/v1/staff/requests/{request.reference}")
    assert response.status_code == 200, response.content
    return response.json()


# --- An erasure job the workers gave up on -----------------------------------------------------


@pytest.fixture
def erasing(org, staff, deliver):
    """An erasure request whose approved plan is queued for a worker (`fulfilling`)."""
    customer(org, email=EMAIL)
    request = verified_request(org, kind="erasure", email=EMAIL, language="en", details=ALL)
    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])
    ff.erasure_plan_approve(request=request, actor=staff["approver"])
    request.refresh_from_db()
    assert request.status == S.FULFILLING
    return request


def workers_give_up(job: RecordStoreJob, settings, error: str = "OperationalError") -> None:
    """What happens to a job whose every run fails: each worker notes the error, and once
    JOB_MAX_ATTEMPTS runs failed, beat's reclaim marks it `failed`."""
    now = timezone.now()
    for attempt in range(settings.JOB_MAX_ATTEMPTS):
        with time_machine.travel(now + dt.timedelta(seconds=attempt + 1), tick=False):
            assert job_claim(job_id=job.pk, worker=f"worker-{attempt}") is not None
            job_fail(job_id=job.pk, worker=f"worker-{attempt}", error=error)
    with time_machine.travel(now + dt.timedelta(minutes=5), tick=False):
        jobs_reclaimable()
    job.refresh_from_db()
    assert job.state == RecordStoreJob.State.FAILED


@pytest.fixture
def failed_erasure(erasing, settings):
    workers_give_up(job_of(erasing), settings)
    return erasing


@pytest.fixture
def refused_deletes():
    """The database refuses to delete records (as with a full disk or a missing permission)
    until `lift()` is called: every erasure run fails there, in SQL, as in production."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION test_refuse_delete() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'disk full for anna@example.org'; END;
            $$ LANGUAGE plpgsql;
            CREATE TRIGGER test_refuse_delete BEFORE DELETE ON retention_record
                FOR EACH ROW EXECUTE FUNCTION test_refuse_delete();
            """
        )

    class Refusal:
        @staticmethod
        def lift() -> None:
            with connection.cursor() as cursor:
                cursor.execute("DROP TRIGGER IF EXISTS test_refuse_delete ON retention_record")

    yield Refusal
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TRIGGER IF EXISTS test_refuse_delete ON retention_record;"
            "DROP FUNCTION test_refuse_delete();"
        )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_erasure_the_workers_gave_up_on_is_retried_by_an_approver_and_completes_the_request(
    org, staff, staff_client, private_redis, refused_deletes, settings
):
    settings.JOB_MAX_ATTEMPTS = 2
    subject = customer(org, email=EMAIL)
    request = verified_request(org, kind="erasure", email=EMAIL, language="en", details=ALL)
    worker = start_worker(
        private_redis.url, "--beat", env={"JOB_MAX_ATTEMPTS": "2", "JOB_RECLAIM_INTERVAL": "1"}
    )
    try:
        svc.request_approve(request=request, actor=staff["approver"])
        wait_for(
            lambda: Fulfilment.objects.filter(request=request, job__isnull=False).exists(),
            what="the erasure plan",
        )
        ff.erasure_plan_approve(request=request, actor=staff["approver"])
        wait_for(lambda: job_of(request).state == "failed", what="the workers to give up")

        # Stuck: the request is still being carried out, nothing was erased, and staff see why.
        job = job_of(request)
        assert job.attempts == 2 and job.error and job.finished_at is not None
        assert SubjectRequest.objects.get(pk=request.pk).status == S.FULFILLING
        assert Record.objects.filter(subject=subject).count() == 5
        approver = staff_client(staff["approver"])
        html = page_of(approver, request)
        assert "The erasure could not be carried out." in html
        assert "after 2 attempts" in html and f"<code>{job.error}</code>" in html
        assert "disk full" not in html  # the error's class name, never its message
        assert 'id="action-retry"' in html

        # The cause is fixed; the approver tries again and the worker finishes the erasure.
        refused_deletes.lift()
        response = approver.post(retry_url(request))
        assert response.status_code == 302
        wait_for(
            lambda: SubjectRequest.objects.get(pk=request.pk).status == S.COMPLETED,
            what="the erasure after the retry",
        )
        wait_for(
            lambda: any("is done" in s for s, _ in messages_of(EMAIL, reference=request.reference)),
            what="the reply",
        )
    finally:
        stop_worker(worker)

    assert not Record.objects.filter(subject=subject).exists()
    job = job_of(request)
    assert job.state == "completed" and job.attempts == 1 and job.error == ""
    [retried] = audited("requests.erasure.retried", request)
    assert retried.actor_id == staff["approver"].pk
    assert retried.data["attempts"] == 2 and retried.data["job_id"] == job.pk
    assert len(audited("requests.request.completed", request)) == 1
    html = page_of(staff_client(staff["approver"]), request)
    assert "Failed erasure handed to the workers again" in html  # on the timeline
    assert "could not be carried out" not in html


def test_an_approver_retries_a_failed_erasure_and_the_worker_completes_it(
    failed_erasure, staff, deliver
):
    request = failed_erasure
    with deliver():
        job = ff.fulfilment_retry(request=request, actor=staff["approver"])

    assert job.pk == job_of(request).pk
    request.refresh_from_db()
    job.refresh_from_db()
    assert request.status == S.COMPLETED
    assert job.state == "completed" and job.attempts == 1 and job.error == ""
    assert job.result["deleted"] == 5
    assert AuditEntry.objects.filter(action="retention.erasure.retried", object_id=str(job.pk))
    [entry] = audited("requests.erasure.retried", request)
    assert entry.actor_id == staff["approver"].pk
    assert (entry.data["job_id"], entry.data["attempts"]) == (job.pk, 2)
    assert entry.data["error"] == "OperationalError"


def test_a_retried_job_goes_back_to_the_workers_with_its_progress_kept(
    failed_erasure, staff, settings
):
    job = job_of(failed_erasure)
    Record.objects.filter(pk__in=[job.plan[0]["record"]]).delete()  # a batch that went through
    RecordStoreJob.objects.filter(pk=job.pk).update(progress=1, result={"deleted": 1})

    ff.fulfilment_retry(request=failed_erasure, actor=staff["approver"])

    job.refresh_from_db()
    assert job.state == "approved" and job.attempts == 0 and job.error == ""
    assert job.lease_owner == "" and job.lease_expires_at is None and job.finished_at is None
    assert (job.progress, job.result) == (1, {"deleted": 1})
    # Handed out again by beat too, should the outbox message be lost.
    later = timezone.now() + dt.timedelta(seconds=settings.JOB_LEASE_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        assert job.pk in jobs_reclaimable()


@pytest.mark.parametrize("role", ["viewer", "handler"])
def test_only_an_approver_may_retry(failed_erasure, staff, staff_client, api, role):
    with pytest.raises(PermissionDenied):
        ff.fulfilment_retry(request=failed_erasure, actor=staff[role])
    assert staff_client(staff[role]).post(retry_url(failed_erasure)).status_code == 403
    assert api_retry(api(role), failed_erasure).status_code == 403
    assert job_of(failed_erasure).state == "failed"
    assert audited("requests.erasure.retried", failed_erasure) == []


def test_the_page_shows_the_failure_and_only_approvers_get_the_button(
    failed_erasure, staff, staff_client
):
    handler = page_of(staff_client(staff["handler"]), failed_erasure)
    assert "The erasure could not be carried out." in handler
    assert "The workers gave up on 20" in handler and "after 2 attempts." in handler
    assert "Last error: <code>OperationalError</code>" in handler
    assert "2 of at most 2" in handler
    assert "An approver can try again." in handler and 'id="action-retry"' not in handler
    approver = page_of(staff_client(staff["approver"]), failed_erasure)
    assert 'id="action-retry"' in approver and "Try again" in approver
    assert duplicate_ids(approver) == []


def test_a_job_that_has_not_failed_cannot_be_retried(erasing, staff, staff_client):
    for language, words in [("en", "has not failed"), ("sv", "har inte misslyckats")]:
        with translation.override(language), pytest.raises(svc.InvalidTransition) as refused:
            ff.fulfilment_retry(request=erasing, actor=staff["approver"])
        assert refused.value.code == "nothing_failed" and words in refused.value.message
    assert job_of(erasing).state == "approved"
    assert audited("requests.erasure.retried", erasing) == []
    response = staff_client(staff["approver"]).post(
        retry_url(erasing), follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "there is nothing to try again" in response.content.decode()


@pytest.mark.parametrize("kind", ["rectification", "objection", "restriction", "erasure"])
def test_a_request_without_a_failed_job_has_nothing_to_retry(org, staff, kind):
    request = make_request(org, kind=kind, status=S.IN_PROGRESS)
    with translation.override("en"), pytest.raises(svc.InvalidTransition) as refused:
        ff.fulfilment_retry(request=request, actor=staff["approver"])
    assert refused.value.code == "nothing_failed"
    assert "nothing to try again" in refused.value.message


# --- A package that could not be built --------------------------------------------------------


@pytest.fixture
def failed_package(org, settings, tmp_path):
    """An approved access request whose package every worker failed to build: its directory
    is not there (a volume that was not mounted), until the test points it at a real one."""
    (tmp_path / "unmounted").write_text("")
    settings.PACKAGE_DIR = tmp_path / "unmounted" / "packages"
    request = approved_request(org, language="en")
    for _attempt in range(settings.JOB_MAX_ATTEMPTS):
        with pytest.raises(NotADirectoryError):
            packages.package_start(request_id=request.pk)
    later = timezone.now() + dt.timedelta(seconds=settings.JOB_LEASE_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        assert packages.packages_resume() == 0
    package = DataPackage.objects.get(request=request)
    assert package.state == "failed" and package.build_attempts == 2
    request.refresh_from_db()
    assert request.status == S.FULFILLING
    return request


def test_a_failed_package_is_shown_with_when_how_often_and_its_error(
    failed_package, staff, staff_client, api
):
    package = DataPackage.objects.get(request=failed_package)
    assert package.build_error == "NotADirectoryError" and package.failed_at is not None
    html = page_of(staff_client(staff["approver"]), failed_package)
    assert "The package could not be built." in html
    assert "after 2 attempts" in html and "<code>NotADirectoryError</code>" in html
    assert "unmounted" not in html  # the error's class name, never its message
    assert 'id="action-retry"' in html and duplicate_ids(html) == []
    assert "meanwhile answer the person" not in html  # completing by hand is not possible

    shown = api_detail(api("viewer"), failed_package)
    assert shown["fulfilment"]["failure"] == {
        "what": "package",
        "attempts": 2,
        "failed_at": shown["package"]["failed_at"],
        "error": "NotADirectoryError",
    }
    assert shown["package"]["state"] == "failed" and shown["package"]["failed_at"]
    assert shown["package"]["build_error"] == "NotADirectoryError"


def test_an_approver_rebuilds_a_failed_package_once_the_cause_is_fixed(
    failed_package, staff, staff_client, deliver, settings, tmp_path
):
    settings.PACKAGE_DIR = tmp_path / "mounted" / "packages"  # the volume is mounted again
    with deliver():
        response = staff_client(staff["approver"]).post(retry_url(failed_package))
    assert response.status_code == 302

    package = DataPackage.objects.get(request=failed_package)
    assert package.state == "ready" and package.build_attempts == 1
    assert package.build_error == "" and package.failed_at is None
    assert packages.package_path(package).exists()
    [entry] = audited("requests.package.retried", failed_package)
    assert entry.actor_id == staff["approver"].pk
    assert entry.data["attempts"] == 2 and entry.data["error"] == "NotADirectoryError"
    failed_package.refresh_from_db()
    assert failed_package.status == S.FULFILLING  # released (and completed) after review


def test_a_package_that_has_not_failed_cannot_be_rebuilt(org, staff, api):
    request = approved_request(org)
    packages.package_start(request_id=request.pk)
    with translation.override("en"), pytest.raises(svc.InvalidTransition) as refused:
        ff.fulfilment_retry(request=request, actor=staff["approver"])
    assert refused.value.code == "nothing_failed"
    assert "nothing to build again" in refused.value.message
    response = api_retry(api("approver"), request)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "nothing_failed"
    assert DataPackage.objects.get(request=request).state == "ready"


# --- The staff API ------------------------------------------------------------------------------


def test_the_api_shows_the_failed_job_and_an_approver_retries_it(failed_erasure, api, deliver):
    shown = api_detail(api("viewer"), failed_erasure)
    failure = shown["fulfilment"]["failure"]
    assert failure["what"] == "erasure" and failure["attempts"] == 2
    assert failure["error"] == "OperationalError" and failure["failed_at"]
    plan = shown["fulfilment"]["erasure_plan"]
    assert plan["state"] == "failed" and plan["attempts"] == 2 and plan["max_attempts"] == 2
    assert plan["error"] == "OperationalError" and plan["finished_at"] == failure["failed_at"]

    with deliver():
        response = api_retry(api("approver"), failed_erasure)

    assert response.status_code == 200
    assert response.json()["reference"] == failed_erasure.reference
    after = api_detail(api("viewer"), failed_erasure)
    assert after["status"] == "completed" and after["fulfilment"]["failure"] is None
    assert after["fulfilment"]["erasure_plan"]["state"] == "completed"


def test_the_api_answers_404_to_another_organisation_and_409_when_nothing_failed(
    org, failed_erasure, api
):
    response = api_retry(api("outsider"), failed_erasure)
    assert response.status_code == 404
    assert failed_erasure.reference not in response.content.decode()
    assert job_of(failed_erasure).state == "failed"

    running = make_request(org, kind="erasure", status=S.FULFILLING)
    response = api_retry(api("approver"), running)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "nothing_failed"


def test_another_organisations_staff_get_404_on_the_page(failed_erasure, outsider, staff_client):
    assert staff_client(outsider).post(retry_url(failed_erasure)).status_code == 404
    assert job_of(failed_erasure).state == "failed"


# --- The approvers' digest ------------------------------------------------------------------


def test_the_approvers_digest_lists_the_requests_the_workers_gave_up_on(
    failed_erasure, staff, mailoutbox
):
    deadline_digest_send()
    [approver_mail] = [m for m in mailoutbox if m.to == [staff["approver"].email]]
    assert failed_erasure.reference in approver_mail.body
    heading = "En worker kunde inte genomföra dessa: åtgärda orsaken och försök sedan igen"
    assert heading in approver_mail.body  # Testbolaget's staff read Swedish
    assert failed_erasure.reference in approver_mail.alternatives[0][0]
    assert EMAIL not in approver_mail.body  # references, kinds and dates only
    assert not [m for m in mailoutbox if m.to == [staff["handler"].email]]
