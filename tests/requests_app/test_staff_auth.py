"""Staff sign-in: password then TOTP, enrolment with a QR code, lockouts, session limits."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from requests_app.models import StaffApiToken
from requests_app.services.staff_auth import api_token_issue
from requests_app.staff import session as staff_views
from retention.models import AuditEntry
from tests.requests_app.helpers import PASSWORD, current_code, make_request, signed_in


def password_step(client, username, password=PASSWORD):
    return client.post(reverse("staff:login"), {"username": username, "password": password})


def test_it_signs_in_with_password_then_a_totp_code(org, staff):
    client = Client()
    response = password_step(client, "handler")
    assert response.status_code == 302
    assert response["Location"] == reverse("staff:login_code")
    # Only the password: the queue is still closed.
    assert client.get(reverse("staff:queue")).status_code == 302
    response = client.post(reverse("staff:login_code"), {"code": current_code(staff["handler"])})
    assert response.status_code == 302
    assert client.get(reverse("staff:queue")).status_code == 200
    assert AuditEntry.objects.filter(action="staff.login.succeeded").count() == 1


def test_a_used_code_does_not_work_twice(org, staff):
    code = current_code(staff["handler"])
    first, second = Client(), Client()
    password_step(first, "handler")
    first.post(reverse("staff:login_code"), {"code": code})
    password_step(second, "handler")
    response = second.post(reverse("staff:login_code"), {"code": code})
    assert response.status_code == 400


def test_first_sign_in_enrols_totp_with_an_inline_svg_qr_code(org, staff):
    TOTPDevice.objects.filter(user=staff["viewer"]).delete()
    client = Client()
    response = password_step(client, "viewer")
    assert response["Location"] == reverse("staff:enrol")
    page = client.get(reverse("staff:enrol"))
    html = page.content.decode()
    assert "<svg" in html and "otpauth" not in html.split("<svg")[0]
    assert "http" not in re.sub(
        r'xmlns(:\w+)?="[^"]+"', "", html.split("<svg", 1)[1].split("</svg>")[0]
    )
    device = TOTPDevice.objects.get(user=staff["viewer"], confirmed=False)
    assert client.post(reverse("staff:enrol"), {"code": "000000"}).status_code == 400
    with time_machine.travel(time.time() + 5):  # past django-otp's throttle after a wrong code
        response = client.post(reverse("staff:enrol"), {"code": f"{totp(device.bin_key):06d}"})
    assert response.status_code == 302
    assert TOTPDevice.objects.get(user=staff["viewer"]).confirmed
    assert client.get(reverse("staff:queue")).status_code == 200


def test_wrong_password_and_unknown_account_get_the_same_answer(org, staff):
    a = password_step(Client(), "handler", "wrong password")
    b = password_step(Client(), "nobody-at-all", "wrong password")
    assert a.status_code == b.status_code == 400

    def page(response):
        html = response.content.decode().replace("nobody-at-all", "handler")
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)

    assert page(a) == page(b)


@pytest.mark.parametrize("username", ["handler", "nobody-at-all"])
def test_failed_attempts_lock_the_account_and_ip_for_a_cool_off(org, staff, settings, username):
    settings.STAFF_LOGIN_MAX_FAILURES = 3
    client = Client()
    for _ in range(3):
        assert password_step(client, username, "wrong").status_code == 400
    locked = password_step(client, username, PASSWORD)
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 0
    # Another IP is not locked out.
    other = Client(REMOTE_ADDR="10.0.0.9")
    if username == "handler":
        assert password_step(other, username).status_code == 302
    with time_machine.travel(time.time() + settings.STAFF_LOGIN_COOLOFF_SECONDS + 1):
        response = password_step(client, username, PASSWORD)
        assert response.status_code == (302 if username == "handler" else 400)


def test_failed_codes_count_towards_the_lockout(org, staff, settings):
    settings.STAFF_LOGIN_MAX_FAILURES = 2
    client = Client()
    password_step(client, "handler")
    assert client.post(reverse("staff:login_code"), {"code": "000000"}).status_code == 400
    assert client.post(reverse("staff:login_code"), {"code": "000001"}).status_code in (400, 429)
    response = client.post(reverse("staff:login_code"), {"code": current_code(staff["handler"])})
    assert response.status_code == 429


def test_the_session_ends_after_idle_time(org, staff, staff_client, settings):
    client = staff_client(staff["viewer"])
    assert client.get(reverse("staff:queue")).status_code == 200
    with time_machine.travel(time.time() + settings.STAFF_SESSION_IDLE_MINUTES * 60 + 5):
        response = client.get(reverse("staff:queue"))
    assert response.status_code == 302 and reverse("staff:login") in response["Location"]
    assert client.get(reverse("staff:queue")).status_code == 302


def test_the_session_ends_after_the_absolute_limit_even_when_active(
    org, staff, staff_client, settings
):
    client = staff_client(staff["viewer"])
    start = time.time()
    step = (settings.STAFF_SESSION_IDLE_MINUTES - 1) * 60
    limit = settings.STAFF_SESSION_MAX_HOURS * 3600
    t = start
    while t - start < limit - step:
        t += step
        with time_machine.travel(t):
            assert client.get(reverse("staff:queue")).status_code == 200
    with time_machine.travel(start + limit + 1):
        assert client.get(reverse("staff:queue")).status_code == 302


def test_a_password_only_session_opens_no_staff_page_or_api(org, staff):
    client = Client()
    client.force_login(staff["admin"])  # no second factor
    request = make_request(org)
    for url in [
        reverse("staff:queue"),
        reverse("staff:detail", kwargs={"reference": request.reference}),
        reverse("staff:dashboard", kwargs={"org_slug": org.slug}),
    ]:
        assert client.get(url).status_code == 302
    assert client.get("/api/v1/staff/requests").status_code == 401


def test_destructive_actions_ask_for_recent_re_authentication(org, staff, settings):
    request = make_request(org)
    client = signed_in(
        Client(), staff["approver"], reauth_age=settings.STAFF_REAUTH_MINUTES * 60 + 1
    )
    url = reverse("staff:action", kwargs={"reference": request.reference, "name": "approve"})
    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("staff:reauth"))
    request.refresh_from_db()
    assert request.status == "new"
    response = client.post(reverse("staff:reauth"), {"password": PASSWORD, "next": "/staff/"})
    assert response.status_code == 302
    assert client.post(url).status_code == 302
    request.refresh_from_db()
    assert request.status == "approved"


def test_re_authentication_with_a_code(org, staff):
    client = signed_in(Client(), staff["approver"], reauth_age=3600)
    response = client.post(reverse("staff:reauth"), {"code": current_code(staff["approver"])})
    assert response.status_code == 302
    assert client.session[staff_views.REAUTH_AT] > time.time() - 5


def test_api_tokens_are_issued_only_after_re_authentication_and_work_once_issued(
    org, staff, settings
):
    client = signed_in(Client(), staff["handler"], reauth_age=3600)
    response = client.post(reverse("staff:api_tokens"), {"name": "CRM"})
    assert response.status_code == 302
    assert not StaffApiToken.objects.exists()
    client = signed_in(Client(), staff["handler"])
    response = client.post(reverse("staff:api_tokens"), {"name": "CRM"})
    raw = response.context["new_token"]
    assert raw.startswith("dsrs_")
    token = StaffApiToken.objects.get()
    assert token.key_hash != raw and raw not in token.key_hash
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/v1/staff/requests").status_code == 200
    client.post(reverse("staff:api_tokens"), {"revoke": token.pk})
    assert api.get("/api/v1/staff/requests").status_code == 401
    expired_at = token.expires_at + dt.timedelta(seconds=1)
    assert expired_at > token.created_at


def test_the_page_asked_for_is_kept_url_encoded_through_sign_in(org, staff):
    """Issue 17: `?next=` is URL-encoded (redirect_to_login), so a queue URL with its
    filters (& and = in the query string) is where the sign-in ends."""
    from urllib.parse import parse_qs, urlsplit

    client = Client()
    target = reverse("staff:queue") + "?status=open&q=a=b&sort=due"
    response = client.get(target)
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == reverse("staff:login")
    assert parse_qs(location.query) == {"next": [target]}
    assert "%26" in location.query  # the & of the target is encoded, not a new parameter

    page = client.get(response["Location"])
    assert f'value="{target.replace("&", "&amp;")}"' in page.content.decode()
    client.post(response["Location"], {"username": "handler", "password": PASSWORD, "next": target})
    done = client.post(reverse("staff:login_code"), {"code": current_code(staff["handler"])})
    assert done.status_code == 302
    assert done["Location"] == target


def test_without_redis_sign_in_fails_closed_quickly_and_says_so(org, staff, private_redis):
    """Issue 14: with Redis frozen, staff pages must not answer 500 after a long wait. The
    failure counters live in Redis; without them nothing stops a guesser, so sign-in
    waits (503, Retry-After) rather than letting unlimited guesses through."""
    from requests_app.breaker import breakers_reset

    from .test_redis_frozen import frozen

    breakers_reset()
    client = Client()
    with frozen(private_redis):
        started = time.monotonic()
        first = password_step(client, "handler")
        second = password_step(client, "handler", "wrong password")
        elapsed = time.monotonic() - started
    breakers_reset()
    assert first.status_code == second.status_code == 503
    assert int(first["Retry-After"]) >= 30
    assert "Inloggningen är tillfälligt otillgänglig" in first.content.decode()
    assert elapsed < 3  # one short timeout, then the breaker answers at once
    assert client.get(reverse("staff:queue")).status_code == 302  # not signed in
    assert password_step(client, "handler").status_code == 302  # back to normal after


def test_without_redis_the_apis_re_authentication_answers_503(org, staff, private_redis):
    from requests_app.breaker import breakers_reset

    from .test_redis_frozen import frozen

    approver = staff["approver"]
    token, _row = api_token_issue(user=approver, name="test")
    request = make_request(org, kind="objection")
    breakers_reset()
    with frozen(private_redis):
        response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").post(
            f"/api/v1/staff/requests/{request.reference}/approve",
            {"code": current_code(approver)},
            content_type="application/json",
        )
    breakers_reset()
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
