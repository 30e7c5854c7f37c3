"""Staff recovery codes (issue 17): a staff member who loses their phone is not locked out.

- Ten one-time codes (django-otp's otp_static) are made at TOTP enrolment and shown once.
- Any one of them works once, in place of the TOTP code at sign-in.
- New codes (replacing all old ones) need a recent re-authentication.
- Making codes and using one are audited; the codes are never in the audit trail.
"""

from __future__ import annotations

import json
import time

import time_machine
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from requests_app.services.staff_recovery import recovery_codes_generate
from retention.models import AuditEntry
from tests.requests_app.helpers import PASSWORD


def password_step(client, username):
    return client.post(reverse("staff:login"), {"username": username, "password": PASSWORD})


def test_enrolment_shows_ten_codes_once(org, staff):
    TOTPDevice.objects.filter(user=staff["viewer"]).delete()
    client = Client()
    password_step(client, "viewer")
    client.get(reverse("staff:enrol"))
    device = TOTPDevice.objects.get(user=staff["viewer"], confirmed=False)
    response = client.post(reverse("staff:enrol"), {"code": f"{totp(device.bin_key):06d}"})
    assert response["Location"] == reverse("staff:recovery_codes")
    codes = list(StaticToken.objects.filter(device__user=staff["viewer"]))
    assert len(codes) == 10
    first = client.get(reverse("staff:recovery_codes")).content.decode()
    assert all(code.token in first for code in codes)
    again = client.get(reverse("staff:recovery_codes")).content.decode()
    assert not any(code.token in again for code in codes)
    assert "Du har 10 oanvända återställningskoder." in again  # LANGUAGE_CODE sv


def test_a_recovery_code_signs_in_once_in_place_of_the_totp_code(org, staff):
    codes = recovery_codes_generate(user=staff["handler"], reason="test")
    client = Client()
    password_step(client, "handler")
    response = client.post(reverse("staff:login_code"), {"code": codes[0].upper()})
    assert response.status_code == 302
    assert client.get(reverse("staff:queue")).status_code == 200
    used = AuditEntry.objects.get(action="staff.recovery_code.used")
    assert str(used.actor_id) == str(staff["handler"].pk)
    assert used.data == {"remaining": 9}

    other = Client()
    password_step(other, "handler")
    with time_machine.travel(time.time() + 5):
        again = other.post(reverse("staff:login_code"), {"code": codes[0]})
    assert again.status_code == 400
    assert other.get(reverse("staff:queue")).status_code == 302


def test_new_codes_need_reauthentication_and_replace_the_old_ones(org, staff, staff_client):
    old = recovery_codes_generate(user=staff["handler"], reason="test")
    stale = staff_client(staff["handler"], reauth_age=3600)
    response = stale.post(reverse("staff:recovery_codes"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("staff:reauth"))
    assert set(StaticToken.objects.values_list("token", flat=True)) == set(old)

    fresh = staff_client(staff["handler"])
    page = fresh.post(reverse("staff:recovery_codes")).content.decode()
    new = set(StaticToken.objects.values_list("token", flat=True))
    assert len(new) == 10 and not new & set(old)
    assert all(code in page for code in new)
    actions = list(
        AuditEntry.objects.filter(action="staff.recovery_codes.generated").values_list(
            "data", flat=True
        )
    )
    assert [a["reason"] for a in actions] == ["test", "regenerated"]
    trail = json.dumps(list(AuditEntry.objects.values_list("data", flat=True)))
    assert not any(code in trail for code in new | set(old))
