"""The staff charts: the numbers behind them, against known data, and the accessible SVG.

Each chart is drawn on the server as SVG with role="img", a <title> and a <desc>, and the
table behind it; the numbers come from one aggregate query each (no loop over rows).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from requests_app import charts
from requests_app.models import RequestStatus
from requests_app.selectors import charts as sel
from requests_app.services import staff as svc
from retention.models import LegalHold, Record
from tests.requests_app.helpers import make_request, make_subject_with_records

STOCKHOLM = ZoneInfo("Europe/Stockholm")
TODAY = dt.date(2025, 6, 16)


def _at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), STOCKHOLM)


def test_month_starts_are_the_months_ending_with_todays():
    assert sel.month_starts(last=dt.date(2025, 2, 14), count=3) == [
        dt.date(2024, 12, 1),
        dt.date(2025, 1, 1),
        dt.date(2025, 2, 1),
    ]


def test_requests_per_month_count_verified_requests_by_type_in_the_local_month(org, other_org):
    # 31 May 23:30 in Stockholm is 21:30 UTC: a May request, whatever the server's clock says.
    make_request(
        org, kind="erasure", received_at=dt.datetime(2025, 5, 31, 23, 30, tzinfo=STOCKHOLM)
    )
    make_request(org, kind="erasure", received_at=_at(dt.date(2025, 6, 2)))
    make_request(org, kind="access", received_at=_at(dt.date(2025, 6, 3)))
    make_request(org, kind="access", received_at=_at(dt.date(2025, 6, 4)))
    make_request(org, kind="access", received_at=_at(dt.date(2024, 1, 4)))  # > 12 months ago
    make_request(org, kind="access", status=RequestStatus.UNVERIFIED, received_at=_at(TODAY))
    make_request(other_org, kind="access", received_at=_at(TODAY))

    data = sel.requests_per_month(organisation=org, today=TODAY)

    assert data.months[0] == dt.date(2024, 7, 1) and data.months[-1] == dt.date(2025, 6, 1)
    assert [k for k, _label in data.kinds] == ["access", "erasure"]
    assert data.count(dt.date(2025, 5, 1), "erasure") == 1
    assert data.count(dt.date(2025, 6, 1), "erasure") == 1
    assert data.count(dt.date(2025, 6, 1), "access") == 2
    assert sum(data.total(m) for m in data.months) == 4


def test_closing_per_month_gives_on_time_share_and_median_days(org, staff):
    """Closed 4, 10 and 45 days after receipt (3 March): in March and April; the late one
    (the time limit is one month, Art. 12(3)) is not on time."""
    received = _at(dt.date(2025, 3, 3))
    for i, days in enumerate([4, 10, 45]):
        request = make_request(org, received_at=received, email=f"{i}@example.org")
        with time_machine.travel(received + dt.timedelta(days=days), tick=False):
            svc.request_cancel(request=request, actor=staff["handler"])

    months = {m.month: m for m in sel.closing_per_month(organisation=org, today=TODAY)}

    march, april = months[dt.date(2025, 3, 1)], months[dt.date(2025, 4, 1)]
    assert (march.closed, march.on_time, march.median_days) == (2, 2, 7.0)
    assert march.on_time_percent == 100
    assert (april.closed, april.on_time, april.median_days) == (1, 0, 45.0)
    assert april.on_time_percent == 0
    assert months[dt.date(2025, 5, 1)].closed == 0
    assert months[dt.date(2025, 5, 1)].median_days is None


def test_open_requests_are_counted_by_days_left(org):
    today = timezone.now().astimezone(STOCKHOLM).date()
    for days_left in [-3, -1, 0, 7, 8, 20, 45]:
        request = make_request(org)
        type(request).objects.filter(pk=request.pk).update(
            due_date=today + dt.timedelta(days=days_left)
        )
    make_request(org, status=RequestStatus.COMPLETED)  # closed: not counted

    counts = sel.open_by_days_left(organisation=org, today=today)

    assert counts == {"overdue": 2, "week": 2, "fortnight": 1, "month": 1, "later": 1}


def test_records_expiring_by_day_and_rule_leave_held_records_out(org):
    request = make_request(org)
    subject = make_subject_with_records(request, records=4)
    now = timezone.now()
    rule = org.retention_rules.order_by("key").first()
    ids = list(Record.objects.filter(subject=subject).order_by("id").values_list("id", flat=True))
    for record_id, days in zip(ids, [-2, 3, 3, 40], strict=True):
        Record.objects.filter(pk=record_id).update(
            expires_at=now + dt.timedelta(days=days), rule=rule
        )

    with translation.override("sv"):
        data = sel.expiring_by_day(organisation=org)

    today = now.astimezone(STOCKHOLM).date()
    assert data.rules == [(rule.key, rule.name_sv)]
    assert data.count(today, rule.key) == 1  # overdue, not yet swept: tonight
    in_three = (now + dt.timedelta(days=3)).astimezone(STOCKHOLM).date()
    assert data.count(in_three, rule.key) == 2
    assert data.rule_total(rule.key) == 3  # the one in 40 days is outside the 30
    LegalHold.objects.create(organisation=org, subject=subject, reason="dispute")
    assert sel.expiring_by_day(organisation=org).rule_total(rule.key) == 0


def test_each_chart_is_one_query_however_many_requests(org):
    for i in range(30):
        make_request(org, email=f"{i}@example.org", received_at=_at(dt.date(2025, 6, 1 + i % 10)))
    with CaptureQueriesContext(connection) as queries:
        sel.requests_per_month(organisation=org, today=TODAY)
        sel.closing_per_month(organisation=org, today=TODAY)
        sel.open_by_days_left(organisation=org, today=TODAY)
    assert len(queries) == 3


def test_a_chart_is_an_accessible_svg_with_the_table_behind_it():
    data = sel.MonthlyByKind(
        months=[dt.date(2025, 5, 1), dt.date(2025, 6, 1)],
        kinds=[("access", "Access"), ("erasure", "Erasure <b>")],
        counts={(dt.date(2025, 5, 1), "access"): 2, (dt.date(2025, 6, 1), "erasure"): 5},
    )
    with translation.override("en"):
        chart = charts.requests_per_month_chart(data)
    svg = str(chart.svg)
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert 'aria-labelledby="chart-requests-per-month-title chart-requests-per-month-desc"' in svg
    assert "<title id=" in svg and "<desc id=" in svg
    assert svg.count("<rect") == 2  # one bar per non-zero value
    assert chart.headers[1:] == ["Access", "Erasure <b>", "Total"]
    assert chart.rows[1][1:] == ["0", "5", "5"]
    assert "Erasure <b>" not in svg  # labels are escaped (the legend is outside the SVG)


def test_a_count_axis_has_whole_numbers_on_its_four_grid_lines():
    assert [charts.axis_top(v) for v in (0, 3, 5, 11, 180, 2400)] == [4, 4, 8, 20, 200, 4000]


def test_the_dashboard_and_the_retention_page_show_their_charts(org, staff, staff_client):
    make_request(org)
    client = staff_client(staff["viewer"])
    page = client.get(reverse("staff:dashboard", kwargs={"org_slug": org.slug})).content.decode()
    for key in ("requests-per-month", "on-time", "median-days", "days-left"):
        assert f'id="chart-{key}-title"' in page
    assert page.count("<details>") == 4
    page = client.get(reverse("staff:retention", kwargs={"org_slug": org.slug})).content.decode()
    assert 'id="chart-expiring-title"' in page
