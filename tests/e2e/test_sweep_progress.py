"""A running retention sweep shows its progress live on the retention page (issue 16, item 4).

"Running jobs (erasure, package build, sweep) show live progress, refreshed without
reloading the page ... and keep the page working without JavaScript."
"""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from retention.models import SweepRun

from .flows import staff_member, staff_sign_in
from .test_every_page import both_widths

pytestmark = pytest.mark.browser


def _running_sweep(organisation) -> SweepRun:
    return SweepRun.objects.create(
        organisation=organisation,
        trigger=SweepRun.Trigger.STAFF,
        cutoff=timezone.now(),
        expected=200,
        processed=50,
        chunks_pending=2,
    )


def test_a_running_sweep_shows_its_progress_without_a_reload(new_page, steps, stack, organisations):
    organisation = organisations["framsteget"]
    device = staff_member(organisation, "viewer-sweep", role="viewer")
    run = _running_sweep(organisation)
    page = new_page("en-GB")
    staff_sign_in(page, steps, device=device, language="en")
    page.goto(f"/staff/org/{organisation.slug}/retention/")
    progress = page.locator(f"[data-progress-field='sweep.{run.pk}.progress']")
    expect(progress).to_have_text("50 / 200")
    expect(page.locator("[data-progress-hide-with-js]")).to_be_hidden()
    page.evaluate("() => { window.notReloaded = true; }")
    both_widths(page, steps, "sweep running")

    SweepRun.objects.filter(pk=run.pk).update(processed=150)
    expect(progress).to_have_text("150 / 200")
    assert page.locator(f"#sweep-{run.pk}-bar").evaluate("p => p.value") == 150

    SweepRun.objects.filter(pk=run.pk).update(
        processed=200, status=SweepRun.Status.COMPLETED, finished_at=timezone.now()
    )
    expect(page.locator(f"[data-progress-field='sweep.{run.pk}.status']")).to_have_text("completed")
    expect(page.locator("#progress-finished")).to_be_visible()
    assert page.evaluate("() => window.notReloaded") is True


def test_without_javascript_a_running_sweep_offers_a_refresh_link(
    new_page, steps, stack, organisations
):
    organisation = organisations["framsteget"]
    device = staff_member(organisation, "viewer-sweep-nojs", role="viewer")
    run = _running_sweep(organisation)
    page = new_page("en-GB", javascript=False)
    staff_sign_in(page, steps, device=device, language="en")
    page.goto(f"/staff/org/{organisation.slug}/retention/")
    progress = page.locator(f"[data-progress-field='sweep.{run.pk}.progress']")
    expect(progress).to_have_text("50 / 200")
    SweepRun.objects.filter(pk=run.pk).update(processed=120)
    page.get_by_role("link", name="Refresh the page", exact=True).click()
    expect(progress).to_have_text("120 / 200")
