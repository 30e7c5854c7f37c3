"""The dashboard, the CSV request register, and the audit chain status for admins."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from zoneinfo import ZoneInfo

import time_machine
from django.db import connection
from django.urls import reverse

from requests_app.models import RequestStatus
from requests_app.selectors.queue import organisation_report
from requests_app.services import staff as svc
from retention.audit import audit_check_run
from retention.models import AuditEntry
from tests.requests_app.helpers import make_request

S = RequestStatus
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def _closed_requests(org, staff):
    """Three requests received 1 March: closed after 4 days, 10 days, and late (45 days)."""
    received = dt.datetime(2025, 3, 3, 10, tzinfo=STOCKHOLM)
    requests = [make_request(org, received_at=received, email=f"{i}@example.org") for i in range(3)]
    for r, days in zip(requests, [4, 10, 45], strict=True):
        with time_machine.travel(received + dt.timedelta(days=days), tick=False):
            svc.request_cancel(request=r, actor=staff["handler"])
    return requests


def test_the_report_counts_open_overdue_on_time_share_and_median(org, staff):
    _closed_requests(org, staff)
    make_request(org, kind="access")
    make_request(
        org,
        kind="erasure",
        status=S.AWAITING_SUBJECT,
        received_at=dt.datetime(2025, 1, 2, tzinfo=STOCKHOLM),
    )
    report = organisation_report(
        organisation=org, start=dt.date(2025, 3, 1), end=dt.date(2025, 4, 30)
    )
    assert report.open_total == 2
    assert report.overdue == 1
    assert {(r["kind"], r["status"], r["count"]) for r in report.open_by_kind_status} == {
        ("access", "new", 1),
        ("erasure", "awaiting_subject", 1),
    }
    assert report.closed == 3
    assert report.closed_on_time == 2
    assert abs(report.on_time_share - 2 / 3) < 1e-9
    assert report.median_days_to_close == 10.0


def test_the_dashboard_page(org, staff, staff_client):
    _closed_requests(org, staff)
    response = staff_client(staff["viewer"]).get(
        reverse("staff:dashboard", kwargs={"org_slug": org.slug}),
        {"start": "2025-03-01", "end": "2025-04-30"},
    )
    assert response.status_code == 200
    assert response.context["report"].closed == 3


def test_the_register_csv_has_no_personal_data_beyond_the_reference(org, staff, staff_client):
    requests = _closed_requests(org, staff)
    response = staff_client(staff["viewer"]).get(
        reverse("staff:register_csv", kwargs={"org_slug": org.slug}),
        {"start": "2025-03-01", "end": "2025-03-31"},
    )
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][0] == "reference"
    assert {r[0] for r in rows[1:]} == {r.reference for r in requests}
    assert "@" not in body and "Anna" not in body and "Andersson" not in body
    assert AuditEntry.objects.filter(action="requests.register.exported").count() == 1


def test_admins_see_the_last_nightly_check_of_the_audit_chain(
    org, staff, staff_client, settings, tmp_path
):
    """The page shows the last scheduled check (beat, daily), not a walk of the whole chain
    per view; a broken chain shows from the next check on, without entry ids or counts,
    which would tell about other organisations."""
    settings.AUDIT_HEADS_FILE = tmp_path / "heads.log"
    make_request(org)
    svc.request_note_add(
        request=make_request(org, email="z@example.org"), actor=staff["handler"], body="x"
    )
    client = staff_client(staff["admin"])
    url = reverse("staff:audit", kwargs={"org_slug": org.slug})
    assert client.get(url).context["check"] is None
    audit_check_run()
    page = client.get(url)
    assert page.context["check"].ok and not page.context["stale"]
    entry = AuditEntry.objects.order_by("id").first()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "ALTER TABLE retention_auditentry DISABLE TRIGGER retention_auditentry_append_only"
        )
        cursor.execute("UPDATE retention_auditentry SET action = 'x' WHERE id = %s", [entry.pk])
        cursor.execute(
            "ALTER TABLE retention_auditentry ENABLE TRIGGER retention_auditentry_append_only"
        )
    assert client.get(url).context["check"].ok  # until the next check
    audit_check_run()
    page = client.get(url)
    assert not page.context["check"].ok
    text = page.content.decode()
    assert "altered" in text or "ändrats" in text
    # (a number on its own: not the minutes of the check's time, "17:13 ")
    count = AuditEntry.objects.count()
    assert not re.search(rf"(?<![\d:.\-]){count} ", text.split("<table")[0])
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=3)):
        assert staff_client(staff["admin"]).get(url).context["stale"]  # beat stopped: said


def test_the_audit_page_reads_only_this_organisations_entries(org, other_org, staff, staff_client):
    from django.test.utils import CaptureQueriesContext

    from retention.audit import log_action

    for n in range(30):
        log_action(action="test.other", organisation=other_org, data={"n": n})
    client = staff_client(staff["admin"])
    url = reverse("staff:audit", kwargs={"org_slug": org.slug})
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    audit_reads = [q["sql"] for q in queries if 'FROM "retention_auditentry"' in q["sql"]]
    assert audit_reads and all('"organisation_id" =' in sql for sql in audit_reads)
