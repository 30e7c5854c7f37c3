"""Delivering the package: the person downloads only right after proving their address;
staff review it before release. In the browser and over the API."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from requests_app.models import DataPackage, StatusToken
from requests_app.services import packages
from requests_app.services.tokens import status_token_issue
from retention.models import AuditEntry
from tests.requests_app.conftest import last_code
from tests.requests_app.helpers import approved_request, package_bytes


@pytest.fixture(autouse=True)
def in_english(client, settings):
    """The pages in English (the organisation's default is Swedish)."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def english(client: Client) -> Client:
    from django.conf import settings

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def released(org, staff):
    """A released access package of Anna's request."""
    request = approved_request(org, language="en")
    package = packages.package_start(request_id=request.pk)
    packages.package_release(package=package, actor=staff["approver"])
    package.refresh_from_db()
    return package


def download_url(package, reference=None) -> str:
    request = package.request
    return reverse(
        "requests_public:download",
        kwargs={
            "org_slug": request.organisation.slug,
            "reference": reference or request.reference,
            "package_id": package.public_id,
        },
    )


def status_url(request) -> str:
    return f"/{request.organisation.slug}/requests/{request.reference}/"


def prove_with_code(client: Client, request, deliver) -> None:
    """The person asks for a code on the page and enters it (the real flow)."""
    with deliver():
        client.post(f"{status_url(request)}resend/", {"resend-email": request.email})
    response = client.post(f"{status_url(request)}verify/", {"code": last_code()})
    assert response.status_code == 302


def open_with_link(client: Client, request) -> None:
    """The single-use link from the confirmation e-mail: a session, but no fresh code."""
    token, _row = status_token_issue(request=request, kind=StatusToken.Kind.LINK)
    response = client.post(f"{status_url(request)}open/", {"t": token})
    assert response.status_code == 302


def downloads(package) -> int:
    return AuditEntry.objects.filter(
        action="requests.package.downloaded", data__package_id=package.pk
    ).count()


# --- The person, in the browser -------------------------------------------------------------


def test_after_a_fresh_code_the_person_downloads_the_zip(client, released, deliver):
    request = released.request
    prove_with_code(client, request, deliver)
    page = client.get(status_url(request)).content.decode()
    assert "Download your data" in page and download_url(released) in page

    response = client.get(download_url(released))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == (
        f'attachment; filename="{request.reference}-access.zip"'
    )
    assert "no-store" in response["Cache-Control"]
    assert response["X-Content-Type-Options"] == "nosniff"
    body = b"".join(response.streaming_content)
    assert int(response["Content-Length"]) == len(body) == released.size
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert {"report.html", "data.json"} <= set(archive.namelist())
        assert b"ORD-1001" in archive.read("data.json")
    released.refresh_from_db()
    assert released.download_count == 1


def test_every_download_is_audited_without_personal_data(client, released, deliver):
    prove_with_code(client, released.request, deliver)
    for _ in range(2):
        b"".join(client.get(download_url(released)).streaming_content)
    entries = AuditEntry.objects.filter(action="requests.package.downloaded")
    assert entries.count() == 2
    for entry in entries:
        assert entry.actor_kind == "subject"
        assert entry.data == {"package_id": released.pk, "channel": "web", "size": released.size}
        assert "anna" not in str(entry.data).lower()


def test_a_session_from_the_e_mail_link_alone_cannot_download(client, released):
    open_with_link(client, released.request)
    page = client.get(status_url(released.request)).content.decode()
    assert "Send me a code to download" in page and download_url(released) not in page
    response = client.get(download_url(released))
    assert response.status_code == 403
    assert "Confirm your e-mail address to download" in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert downloads(released) == 0


def test_a_code_entered_too_long_ago_is_not_enough(client, released, deliver, settings):
    prove_with_code(client, released.request, deliver)
    later = dt.datetime.now(tz=dt.UTC) + dt.timedelta(
        minutes=settings.PACKAGE_DOWNLOAD_PROOF_MINUTES, seconds=5
    )
    with time_machine.travel(later):
        assert client.get(download_url(released)).status_code == 403
    assert downloads(released) == 0


def test_someone_without_the_session_is_sent_to_prove_the_address(released):
    response = Client().get(download_url(released))
    assert response.status_code == 302
    assert response["Location"] == status_url(released.request)
    assert downloads(released) == 0


def test_another_requests_package_is_not_found(client, org, staff, released, deliver):
    other = approved_request(org, email="bertil@example.org")
    other_package = packages.package_start(request_id=other.pk)
    packages.package_release(package=other_package, actor=staff["approver"])
    prove_with_code(client, released.request, deliver)
    # Anna's proven session, Bertil's package id under Anna's reference.
    url = download_url(other_package, reference=released.request.reference)
    assert client.get(url).status_code == 404
    assert downloads(other_package) == 0


def test_a_package_not_yet_released_cannot_be_downloaded(client, org, deliver):
    request = approved_request(org)
    package = packages.package_start(request_id=request.pk)
    prove_with_code(client, request, deliver)
    assert client.get(download_url(package)).status_code == 404
    assert "We are preparing your data" in client.get(status_url(request)).content.decode()


def test_an_expired_package_is_gone_from_disk_and_refused(client, released, deliver):
    request = released.request
    path = packages.package_path(released)
    after = released.expires_at + dt.timedelta(minutes=1)
    with time_machine.travel(after, tick=False):
        prove_with_code(client, request, deliver)
        # Refused at once, even before the scheduled job has run...
        assert client.get(download_url(released)).status_code == 410
        assert packages.packages_expire() == 1
        assert not path.exists()
        # ... and after it, with a clear page and a status page that says so.
        response = client.get(download_url(released))
        assert response.status_code == 410
        assert "The download has expired" in response.content.decode()
        assert "expired on" in client.get(status_url(request)).content.decode()
    assert downloads(released) == 0


# --- The person, over the API -------------------------------------------------------------------


def api_token(client: Client, request, deliver) -> str:
    with deliver():
        client.post(
            f"/api/v1/requests/{request.reference}/resend",
            {"email": request.email},
            content_type="application/json",
        )
    response = client.post(
        f"/api/v1/requests/{request.reference}/verify",
        {"code": last_code()},
        content_type="application/json",
    )
    assert response.status_code == 200
    return response.json()["token"]


def test_the_api_lists_the_file_and_downloads_it_with_a_fresh_token(client, released, deliver):
    request = released.request
    token = api_token(client, request, deliver)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    status = client.get(f"/api/v1/requests/{request.reference}", **auth).json()
    assert status["status"] == "completed"
    [file] = status["files"]
    assert file["name"] == f"{request.reference}-access.zip"
    assert file["size"] == released.size and file["sha256"] == released.sha256
    assert status["downloads"] == [file["url"]]
    path = file["url"].split("://", 1)[1].split("/", 1)[1]

    response = client.get(f"/{path}", **auth)
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="{request.reference}-access.zip"'
    )
    assert "no-store" in response["Cache-Control"]
    assert b"".join(response.streaming_content) == package_bytes(released)
    assert AuditEntry.objects.get(action="requests.package.downloaded").data["channel"] == "api"


def test_the_api_refuses_an_old_token_a_wrong_package_and_an_expired_one(
    client, org, staff, released, deliver, settings
):
    request = released.request
    token = api_token(client, request, deliver)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    url = f"/api/v1/requests/{request.reference}/files/{released.public_id}"
    assert client.get(url).status_code == 401
    later = dt.datetime.now(tz=dt.UTC) + dt.timedelta(
        minutes=settings.PACKAGE_DOWNLOAD_PROOF_MINUTES, seconds=5
    )
    with time_machine.travel(later):
        response = client.get(url, **auth)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "fresh_proof_required"

    other = approved_request(org, email="bertil@example.org")
    other_package = packages.package_start(request_id=other.pk)
    packages.package_release(package=other_package, actor=staff["approver"])
    wrong = f"/api/v1/requests/{request.reference}/files/{other_package.public_id}"
    assert client.get(wrong, **auth).status_code == 404

    DataPackage.objects.filter(pk=released.pk).update(expires_at=released.released_at)
    response = client.get(url, **auth)
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "expired"
    assert client.get(f"/api/v1/requests/{request.reference}", **auth).json()["files"] == []
    assert downloads(released) == 0


# --- Staff review and release -------------------------------------------------------------------


def test_staff_see_the_package_read_the_report_and_release_it(org, staff, staff_client, deliver):
    request = approved_request(org, language="en")
    package = packages.package_start(request_id=request.pk)
    handler = english(staff_client(staff["handler"]))
    page = handler.get(f"/staff/requests/{request.reference}/").content.decode()
    assert "The package for the person" in page
    assert "report.html" in page and "data.json" in page
    assert "An approver releases the package to the person." in page

    report = handler.get(f"/staff/requests/{request.reference}/package/report/")
    assert report.status_code == 200
    assert report["Content-Type"] == "text/html; charset=utf-8"
    assert report["Content-Security-Policy"].startswith("sandbox")
    assert b"ORD-1001" in b"".join(report.streaming_content)
    file = handler.get(f"/staff/requests/{request.reference}/package/file/")
    assert file["Content-Disposition"] == f'attachment; filename="{request.reference}-access.zip"'
    assert b"".join(file.streaming_content) == package_bytes(package)
    reviews = AuditEntry.objects.filter(action="requests.package.reviewed").order_by("id")
    assert [(e.actor_id, e.data["part"]) for e in reviews] == [
        (staff["handler"].pk, "report"),
        (staff["handler"].pk, "file"),
    ]

    release = f"/staff/requests/{request.reference}/package/release/"
    assert handler.post(release).status_code == 403
    approver = staff_client(staff["approver"])
    with deliver():
        response = approver.post(release)
    assert response.status_code == 302
    package.refresh_from_db()
    assert package.state == "released"
    page = english(approver).get(f"/staff/requests/{request.reference}/").content.decode()
    assert "Released" in page and "Download until" in page and "approver" in page
    assert "Release to the person" not in page


def test_releasing_needs_a_recent_re_authentication(org, staff, staff_client, settings):
    request = approved_request(org)
    package = packages.package_start(request_id=request.pk)
    stale = staff_client(staff["approver"], reauth_age=settings.STAFF_REAUTH_MINUTES * 60 + 1)
    response = stale.post(f"/staff/requests/{request.reference}/package/release/")
    assert response.status_code == 302 and "/staff/confirm/" in response["Location"]
    package.refresh_from_db()
    assert package.state == "ready"


def test_a_viewer_cannot_open_the_package(org, staff, staff_client):
    request = approved_request(org)
    packages.package_start(request_id=request.pk)
    viewer = staff_client(staff["viewer"])
    assert viewer.get(f"/staff/requests/{request.reference}/package/file/").status_code == 403
    assert not AuditEntry.objects.filter(action="requests.package.reviewed").exists()


def test_another_organisations_staff_get_404(org, staff, outsider, staff_client):
    request = approved_request(org)
    packages.package_start(request_id=request.pk)
    client = staff_client(outsider)
    for part in ("file/", "report/"):
        assert client.get(f"/staff/requests/{request.reference}/package/{part}").status_code == 404
    assert client.post(f"/staff/requests/{request.reference}/package/release/").status_code == 404
