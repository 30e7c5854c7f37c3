"""The retention page's live sweep progress (issue 16, item 4): what it polls, and who may."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from retention.models import SweepRun


def _progress_url(org) -> str:
    return reverse("staff:sweep_progress", kwargs={"org_slug": org.slug})


def _sweep(org, **fields) -> SweepRun:
    defaults = {"trigger": "staff", "cutoff": timezone.now(), "expected": 10, "processed": 4}
    return SweepRun.objects.create(organisation=org, **(defaults | fields))


def test_a_running_sweep_is_polled_for_its_progress(org, staff, staff_client):
    run = _sweep(org)
    page = staff_client(staff["viewer"]).get(
        reverse("staff:retention", kwargs={"org_slug": org.slug})
    )
    assert f'data-progress-url="{_progress_url(org)}"' in page.content.decode()
    answer = staff_client(staff["viewer"]).get(_progress_url(org)).json()
    assert answer["running"] is True
    assert answer["fields"][f"sweep.{run.pk}.progress"] == "4 / 10"
    assert answer["bars"] == [{"id": f"sweep-{run.pk}-bar", "done": 4, "total": 10}]


def test_when_no_sweep_runs_the_page_polls_nothing(org, staff, staff_client):
    _sweep(org, status=SweepRun.Status.COMPLETED, processed=10, finished_at=timezone.now())
    page = staff_client(staff["viewer"]).get(
        reverse("staff:retention", kwargs={"org_slug": org.slug})
    )
    assert "data-progress-url" not in page.content.decode()
    assert staff_client(staff["viewer"]).get(_progress_url(org)).json()["running"] is False


def test_staff_of_another_organisation_cannot_read_its_sweeps(
    org, other_org, outsider, staff_client
):
    """The stranger: a staff member of another organisation guesses the slug."""
    _sweep(org)
    assert staff_client(outsider).get(_progress_url(org)).status_code == 404


def test_a_signed_out_visitor_is_sent_to_the_sign_in(org, client):
    _sweep(org)
    response = client.get(_progress_url(org))
    assert response.status_code == 302 and "/staff/login/" in response["Location"]


def test_the_progress_is_read_only(org, staff, staff_client):
    assert staff_client(staff["admin"]).post(_progress_url(org)).status_code == 405
