"""Admins manage their organisation's staff; the last admin cannot be removed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from requests_app.services import staff as svc
from retention.models import AuditEntry, StaffMembership


def test_an_admin_adds_a_user_of_another_organisation_and_changes_the_role(
    org, staff, outsider, staff_client
):
    client = staff_client(staff["admin"])
    url = reverse("staff:members", kwargs={"org_slug": org.slug})
    assert client.post(url, {"username": "outsider", "role": "handler"}).status_code == 302
    assert StaffMembership.objects.get(organisation=org, user=outsider).role == "handler"
    client.post(url, {"username": "outsider", "role": "approver"})
    assert StaffMembership.objects.get(organisation=org, user=outsider).role == "approver"
    entry = AuditEntry.objects.filter(action="staff.membership.set").last()
    assert entry.data == {"role": "approver", "previous_role": "handler"}
    client.post(url, {"remove": outsider.pk})
    assert not StaffMembership.objects.filter(organisation=org, user=outsider).exists()


def test_the_last_admin_cannot_be_removed_or_demoted(org, staff):
    with pytest.raises(svc.StaffActionError):
        svc.membership_remove(organisation=org, actor=staff["admin"], user_id=staff["admin"].pk)
    with pytest.raises(svc.StaffActionError):
        svc.membership_set(organisation=org, actor=staff["admin"], username="admin", role="viewer")
    assert StaffMembership.objects.get(organisation=org, user=staff["admin"]).role == "admin"


def test_an_unknown_user_name_is_refused(org, staff, staff_client):
    response = staff_client(staff["admin"]).post(
        reverse("staff:members", kwargs={"org_slug": org.slug}),
        {"username": "ghost", "role": "viewer"},
    )
    assert response.status_code == 400
