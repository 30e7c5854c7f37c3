"""Rate limits: atomic counters in Redis per IP and per e-mail, 429 with Retry-After."""

from __future__ import annotations

import pytest
from django.test import override_settings

from requests_app.models import SubjectRequest
from requests_app.ratelimit import RateLimited, rate_limit_check

from .conftest import last_code

LIMITS = {
    "submit": {"ip": (3, 600), "email": (2, 600)},
    "verify": {"ip": (3, 600), "email": (100, 600)},
    "resend": {"ip": (100, 600), "email": (2, 600)},
}


def body(email="anna@example.org"):
    return {
        "organisation": "testorg",
        "type": "portability",
        "email": email,
        "full_name": "Anna Andersson",
        "language": "en",
        "format": "json",
    }


def post(client, url, data=None, ip="10.0.0.1"):
    return client.post(url, data or {}, content_type="application/json", REMOTE_ADDR=ip)


@override_settings(INTAKE_RATE_LIMITS=LIMITS)
def test_submissions_are_limited_per_email_address(client, org):
    assert post(client, "/api/v1/requests", body(), ip="10.0.0.1").status_code == 201
    assert post(client, "/api/v1/requests", body(), ip="10.0.0.2").status_code == 201
    response = post(client, "/api/v1/requests", body(), ip="10.0.0.3")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert 0 < int(response["Retry-After"]) <= 600
    assert SubjectRequest.objects.count() == 2
    # Another address from yet another IP is not affected.
    assert (
        post(client, "/api/v1/requests", body("bo@example.org"), ip="10.0.0.4").status_code == 201
    )


@override_settings(INTAKE_RATE_LIMITS=LIMITS)
def test_submissions_are_limited_per_ip(client, org):
    for index in range(3):
        assert post(client, "/api/v1/requests", body(f"p{index}@example.org")).status_code == 201
    response = post(client, "/api/v1/requests", body("p9@example.org"))
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert (
        post(client, "/api/v1/requests", body("p9@example.org"), ip="10.0.0.9").status_code == 201
    )


@override_settings(INTAKE_RATE_LIMITS=LIMITS)
def test_verification_attempts_are_limited_per_ip(client, org, deliver):
    with deliver():
        reference = post(client, "/api/v1/requests", body()).json()["reference"]
    code = last_code()
    for _ in range(3):
        post(
            client,
            f"/api/v1/requests/{reference}/verify",
            {"code": "000000" if code != "000000" else "111111"},
        )
    response = post(client, f"/api/v1/requests/{reference}/verify", {"code": code})
    assert response.status_code == 429
    assert response.has_header("Retry-After")


@override_settings(INTAKE_RATE_LIMITS=LIMITS)
def test_new_codes_are_limited_per_email_address(client, org):
    reference = post(client, "/api/v1/requests", body()).json()["reference"]
    resend = f"/api/v1/requests/{reference}/resend"
    email = {"email": "anna@example.org"}
    assert post(client, resend, email).status_code == 202
    assert post(client, resend, email, ip="10.0.0.2").status_code == 202
    response = post(client, resend, email, ip="10.0.0.3")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


@override_settings(INTAKE_RATE_LIMITS=LIMITS)
def test_the_html_form_answers_429_with_retry_after(client, org):
    data = {
        "full_name": "Anna",
        "email": "anna@example.org",
        "language": "sv",
        "format": "json",
    }
    for _ in range(2):
        assert client.post("/testorg/request/portability/", data).status_code == 302
    response = client.post("/testorg/request/portability/", data)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "För många försök" in response.content.decode()


@override_settings(INTAKE_RATE_LIMITS=LIMITS)
def test_the_counter_is_atomic_across_clients():
    """Many threads hitting one key never let more than the limit through."""
    from concurrent.futures import ThreadPoolExecutor

    def attempt(_):
        try:
            rate_limit_check(action="submit", email="same@example.org")
            return True
        except RateLimited:
            return False

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, range(40)))
    assert results.count(True) == 2


@override_settings(INTAKE_RATE_LIMITS=LIMITS, RATE_LIMIT_REDIS_URL="redis://127.0.0.1:1/0")
def test_it_fails_open_when_redis_is_unreachable(caplog):
    for _ in range(10):
        rate_limit_check(action="submit", ip="10.0.0.1", email="anna@example.org")
    assert "Redis unavailable" in caplog.text
    assert "anna@example.org" not in caplog.text and "10.0.0.1" not in caplog.text


def test_the_keys_hold_no_address_in_clear(org):
    import redis as redis_lib
    from django.conf import settings

    rate_limit_check(action="submit", ip="10.1.2.3", email="anna@example.org")
    keys = [k.decode() for k in redis_lib.Redis.from_url(settings.REDIS_URL).keys("dsr:rl:*")]
    assert len(keys) == 2
    assert not any("anna" in k or "10.1.2.3" in k for k in keys)


@pytest.mark.parametrize("action", ["submit", "verify", "resend"])
def test_every_action_has_a_limit_per_ip_and_per_email(action, settings):
    assert set(settings.INTAKE_RATE_LIMITS[action]) == {"ip", "email"}
