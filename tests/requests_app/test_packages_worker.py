"""End to end with a real Celery worker: approve an access request, the worker builds the
package, staff release it, the person proves their address with a code and downloads it."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from django.test import Client

from requests_app.models import DataPackage, OutboxMessage, RequestStatus
from requests_app.services import packages
from requests_app.services import staff as svc
from tests.conftest import start_worker, stop_worker
from tests.requests_app.helpers import approved_request
from tests.waiting import wait_for


def code_in(mail_dir: Path, seen: set[str]) -> str | None:
    """The 6-digit code of a verification e-mail the worker wrote since `seen`."""
    for path in sorted(mail_dir.glob("*.log")):
        if path.name in seen:
            continue
        match = re.search(r"^\s{4}(\d{6})$", path.read_text(), re.MULTILINE)
        if match:
            seen.add(path.name)
            return match.group(1)
    return None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_approved_access_request_ends_with_the_person_downloading_their_data(
    org, staff, private_redis, package_dir, tmp_path
):
    mail_dir = tmp_path / "mail"
    worker = start_worker(
        private_redis.url,
        env={"PACKAGE_DIR": str(package_dir), "EMAIL_URL": f"filemail://{mail_dir}"},
    )
    try:
        request = approved_request(org, language="en")
        request.status = RequestStatus.NEW
        request.save(update_fields=["status"])

        # Staff approve; the outbox hands the fulfilment to the worker, which builds.
        svc.request_approve(request=request, actor=staff["approver"])
        package = wait_for(
            lambda: DataPackage.objects.filter(request=request, state="ready").first(),
            "the worker to build the package",
        )
        request.refresh_from_db()
        assert request.status == RequestStatus.FULFILLING
        assert package.contents["records"] == 6

        # Staff review and release; the worker e-mails the person.
        packages.package_release(package=package, actor=staff["approver"])
        wait_for(
            lambda: OutboxMessage.objects.filter(
                task_name=packages.READY_EMAIL_TASK, completed_at__isnull=False
            ).exists(),
            "the worker to send the ready e-mail",
        )
        seen: set[str] = set()
        ready = [p.read_text() for p in mail_dir.glob("*.log")]
        assert any("Your data is ready to download" in text for text in ready)
        for path in mail_dir.glob("*.log"):
            seen.add(path.name)

        # The person asks for a code, the worker e-mails it, they enter it and download.
        person = Client()
        status = f"/testorg/requests/{request.reference}/"
        person.post(f"{status}resend/", {"resend-email": request.email})
        code = wait_for(lambda: code_in(mail_dir, seen), "the worker to e-mail a code")
        assert person.post(f"{status}verify/", {"code": code}).status_code == 302
        package.refresh_from_db()
        response = person.get(
            f"/testorg/requests/{request.reference}/download/{package.public_id}/"
        )
        assert response.status_code == 200
        assert response["Content-Disposition"] == (
            f'attachment; filename="{request.reference}-access.zip"'
        )
        body = b"".join(response.streaming_content)
    finally:
        stop_worker(worker)

    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert {"report.html", "data.json"} <= set(archive.namelist())
        data = json.loads(archive.read("data.json"))
        report = archive.read("report.html").decode()
    assert data["reference"] == request.reference and data["record_count"] == 6
    assert "ORD-1001" in report and "https://www.imy.se" in report
    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED
