"""Attacks on the limits behind a reverse proxy, on sign-in, on codes and on sessions.

Issue 12 §6. Behind the TLS proxy every request came from the proxy's address, so the
whole platform shared one set of limits and five wrong passwords from anyone locked a
staff member out. Each test below is the attacker's attempt (or the victim's need).
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
import time_machine
from django.test import Client, RequestFactory
from django.urls import reverse

from requests_app.breaker import breakers_reset
from requests_app.models import OutboxMessage, SubjectRequest, VerificationCode
from requests_app.ratelimit import client_ip
from requests_app.services.verification import SEND_VERIFICATION
from tests.requests_app.conftest import last_code
from tests.requests_app.helpers import PASSWORD, current_code, signed_in

PROXY = "10.0.0.1"
LIMITS = {
    "submit": {"ip": (3, 3600), "email": (100, 3600)},
    "verify": {"ip": (100, 600), "email": (100, 600)},
    "resend": {"ip": (100, 3600), "email": (100, 3600)},
}
BODY = {
    "organisation": "testorg",
    "type": "portability",
    "full_name": "Anna Andersson",
    "language": "en",
    "format": "json",
}
FORM = {
    "full_name": "Anna Andersson",
    "email": "anna@example.org",
    "personnummer": "",
    "customer_number": "",
    "phone": "",
    "language": "en",
    "scope": "all",
}


def via_proxy(client_address: str, forwarded: str | None = None) -> Client:
    """A browser behind our proxy: the proxy connects, and appends the address it saw."""
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded or client_address)


def submit(client: Client, n: int) -> int:
    body = {**BODY, "email": f"person{n}@example.org"}
    return client.post("/api/v1/requests", body, content_type="application/json").status_code


# --- The client address ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("10.0.0.1", "203.0.113.5", "203.0.113.5"),
        ("10.0.0.1", "198.51.100.1, 203.0.113.5", "203.0.113.5"),  # the left part is the client's
        ("10.0.0.1", "203.0.113.5, 10.0.0.2", "203.0.113.5"),  # two proxies of ours
        ("10.0.0.1", "", "10.0.0.1"),
        ("10.0.0.1", "not-an-address", "10.0.0.1"),
        ("10.0.0.1", "2001:db8::7", "2001:db8::7"),
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # not our proxy: the header is ignored
    ],
)
def test_the_client_address_is_read_from_the_header_only_behind_a_trusted_proxy(
    remote, forwarded, expected, settings
):
    import ipaddress

    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/30")]
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_without_trusted_proxies_the_header_is_never_read():
    request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_ip(request) == "203.0.113.9"


@pytest.fixture
def behind_proxy(settings):
    import ipaddress

    settings.TRUSTED_PROXIES = [ipaddress.ip_network(PROXY)]
    settings.INTAKE_RATE_LIMITS = LIMITS


# --- Rate limits per client -----------------------------------------------------------------


def test_requests_through_a_trusted_proxy_are_limited_per_client(behind_proxy, org):
    """Client A using up its submissions must not use up client B's."""
    a, b = via_proxy("203.0.113.5"), via_proxy("203.0.113.6")
    assert [submit(a, n) for n in range(3)] == [201, 201, 201]
    assert submit(a, 3) == 429
    assert submit(b, 4) == 201


def test_a_spoofed_forwarded_for_is_ignored(behind_proxy, org):
    """From an address that is not our proxy the header means nothing; behind our proxy,
    what the client wrote into it (left of the proxy's own entry) means nothing either."""
    direct = [
        Client(REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}") for n in range(5)
    ]
    assert [submit(c, n) for n, c in enumerate(direct)] == [201, 201, 201, 429, 429]
    spoofing = [via_proxy("198.51.100.10", f"203.0.113.{n}, 198.51.100.10") for n in range(5)]
    assert [submit(c, 10 + n) for n, c in enumerate(spoofing)] == [201, 201, 201, 429, 429]


# --- Staff sign-in ----------------------------------------------------------------------------


def password_step(client: Client, username: str, password: str):
    return client.post(reverse("staff:login"), {"username": username, "password": password})


def sign_in(client: Client, user) -> None:
    """The owner's real sign-in: password, then the current code."""
    response = password_step(client, user.get_username(), PASSWORD)
    assert response.status_code == 302, response.status_code
    assert response["Location"] == reverse("staff:login_code")
    response = client.post(reverse("staff:login_code"), {"code": current_code(user)})
    assert response.status_code == 302, response.content.decode()
    assert client.get(reverse("staff:queue")).status_code == 200


def test_a_strangers_wrong_passwords_through_the_proxy_do_not_lock_the_owner_out(
    behind_proxy, org, staff
):
    stranger = via_proxy("203.0.113.66")
    answers = [password_step(stranger, "handler", f"guess {n}").status_code for n in range(50)]
    assert answers[:5] == [400] * 5 and set(answers[5:]) == {429}  # the stranger waits

    sign_in(via_proxy("198.51.100.7"), staff["handler"])


def test_fifty_wrong_passwords_from_many_addresses_do_not_lock_the_owner_out(
    behind_proxy, org, staff
):
    for n in range(50):
        password_step(via_proxy(f"203.0.113.{n}"), "handler", f"guess {n}")

    sign_in(via_proxy("198.51.100.7"), staff["handler"])


def test_a_guarded_account_tells_a_guesser_nothing_from_a_password_alone(
    behind_proxy, org, staff, settings
):
    """After many failures from anywhere, a password is judged only together with a current
    code: a wrong one moves on to the code step like the right one, and fails there."""
    for n in range(settings.STAFF_LOGIN_ACCOUNT_MAX_FAILURES):
        password_step(via_proxy(f"203.0.113.{n}"), "handler", f"guess {n}")

    wrong, right = via_proxy("198.51.100.20"), via_proxy("198.51.100.21")
    first = password_step(wrong, "handler", "guess again")
    second = password_step(right, "handler", PASSWORD)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == reverse("staff:login_code")
    # A wrong password with the right code, and the right password with a wrong code, fail
    # alike; only both together sign in.
    code = current_code(staff["handler"])
    failed = wrong.post(reverse("staff:login_code"), {"code": code})
    assert failed.status_code == 400
    assert wrong.get(reverse("staff:queue")).status_code == 302
    wrong_code = f"{(int(code) + 1) % 10**6:06d}"
    again = right.post(reverse("staff:login_code"), {"code": wrong_code})
    assert again.status_code == 400
    assert again.templates[0].name == failed.templates[0].name == "requests_app/staff/login.html"
    assert [str(e) for e in again.context["form"].non_field_errors()] == [
        str(e) for e in failed.context["form"].non_field_errors()
    ]
    # An unknown account is guarded alike: no account oracle either.
    for n in range(settings.STAFF_LOGIN_ACCOUNT_MAX_FAILURES):
        password_step(via_proxy(f"192.0.2.{n}"), "nobody-at-all", f"guess {n}")
    unknown = password_step(via_proxy("198.51.100.22"), "nobody-at-all", "guess")
    assert unknown.status_code == 302 and unknown["Location"] == reverse("staff:login_code")
    with time_machine.travel(time.time() + 31):  # a new TOTP step: the owner signs in
        sign_in(via_proxy("198.51.100.23"), staff["handler"])


def test_an_address_that_fails_across_accounts_waits(behind_proxy, org, staff, settings):
    sprayer = via_proxy("203.0.113.99")
    for n in range(settings.STAFF_LOGIN_IP_MAX_FAILURES):
        assert password_step(sprayer, f"user-{n}", "Summer2026!").status_code == 400
    assert password_step(sprayer, "handler", PASSWORD).status_code == 429
    sign_in(via_proxy("203.0.113.100"), staff["handler"])


# --- Codes: resend needs the address, and verification fails closed ----------------------------


def _code_messages() -> int:
    return OutboxMessage.objects.filter(task_name=SEND_VERIFICATION).count()


def test_resend_without_the_right_address_does_nothing_observable(org, deliver):
    with deliver():
        Client().post("/testorg/request/erasure/", FORM)
    request = SubjectRequest.objects.get()
    url = f"/testorg/requests/{request.reference}/resend/"
    before = _code_messages()

    stranger, person = Client(), Client()
    wrong = stranger.post(url, {"resend-email": "mallory@example.org"}, follow=True)
    assert _code_messages() == before
    right = person.post(url, {"resend-email": "Anna@Example.org"}, follow=True)
    assert _code_messages() == before + 1

    assert wrong.status_code == right.status_code == 200
    assert wrong.redirect_chain == right.redirect_chain
    assert [str(m) for m in wrong.context["messages"]] == [
        str(m) for m in right.context["messages"]
    ]
    # No address at all: asked for it, nothing sent.
    assert stranger.post(url).status_code == 400
    assert _code_messages() == before + 1


def test_resend_over_the_api_needs_the_address_and_answers_alike(org, deliver):
    with deliver():
        response = Client().post(
            "/api/v1/requests",
            {**BODY, "email": "anna@example.org"},
            content_type="application/json",
        )
    url = f"/api/v1/requests/{response.json()['reference']}/resend"
    before = _code_messages()

    def post(data):
        return Client().post(url, data, content_type="application/json")

    assert post({}).status_code == 400
    wrong, right = post({"email": "mallory@example.org"}), post({"email": "ANNA@example.org"})
    assert (wrong.status_code, wrong.content) == (right.status_code, right.content) == (202, b"")
    assert _code_messages() == before + 1


def test_verify_and_resend_fail_closed_when_redis_is_down(org, deliver, private_redis):
    """With no limit on new codes, five tries per code add up to a brute force: while the
    counters cannot be reached, codes are neither checked nor sent; nothing is lost."""
    person = Client()
    with deliver():
        person.post("/testorg/request/erasure/", FORM)
    request = SubjectRequest.objects.get()
    code = last_code()
    messages = _code_messages()
    private_redis.stop()

    page = person.post(f"/testorg/requests/{request.reference}/verify/", {"code": code})
    api = Client().post(
        f"/api/v1/requests/{request.reference}/verify",
        {"code": code},
        content_type="application/json",
    )
    resend = person.post(f"/testorg/requests/{request.reference}/resend/")
    api_resend = Client().post(
        f"/api/v1/requests/{request.reference}/resend",
        {"email": "anna@example.org"},
        content_type="application/json",
    )

    assert page.status_code == api.status_code == resend.status_code == 503
    assert api_resend.status_code == 503
    assert api.json()["error"]["code"] == "unavailable"
    assert int(page["Retry-After"]) > 0 and int(api["Retry-After"]) > 0
    assert "try again" in page.content.decode().lower() or "försök igen" in (
        page.content.decode().lower()
    )
    request.refresh_from_db()
    assert request.verified_at is None
    assert VerificationCode.objects.get().attempts == 0  # the code was not even tried
    assert _code_messages() == messages
    # Submission still fails open: a request filed now is kept.
    assert Client().post("/testorg/request/erasure/", FORM).status_code == 302
    private_redis.start()
    # Redis is back: once the circuit breaker's window (REDIS_BREAKER_SECONDS) has passed,
    # which breakers_reset() stands for, the same code works.
    breakers_reset()
    assert person.post(f"/testorg/requests/{request.reference}/verify/", {"code": code})[
        "Location"
    ].endswith(f"/testorg/requests/{request.reference}/")


# --- Sessions ----------------------------------------------------------------------------------


def test_the_session_id_changes_on_every_grant(org, deliver):
    """Session fixation: an id known before a proof must open nothing after it."""
    person = Client()
    with deliver():
        person.post("/testorg/request/erasure/", FORM)
    request = SubjectRequest.objects.get()
    before = person.session.session_key
    with deliver():
        person.post(f"/testorg/requests/{request.reference}/verify/", {"code": last_code()})
    after_code = person.session.session_key
    from django.core import mail

    token = mail.outbox[-1].body.split("?t=")[1].split()[0]
    person.post(f"/testorg/requests/{request.reference}/open/", {"t": token})
    after_link = person.session.session_key
    assert len({before, after_code, after_link}) == 3


def test_staff_re_authentication_changes_the_session_id(org, staff):
    client = signed_in(Client(), staff["approver"], reauth_age=3600)
    before = client.session.session_key
    response = client.post(reverse("staff:reauth"), {"code": current_code(staff["approver"])})
    assert response.status_code == 302
    assert client.session.session_key != before


def test_the_public_session_lasts_about_an_hour(org, deliver, settings):
    person = Client()
    with deliver():
        person.post("/testorg/request/erasure/", FORM)
    request = SubjectRequest.objects.get()
    status = f"/testorg/requests/{request.reference}/"
    response = person.post(f"{status}verify/", {"code": last_code()})
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert 50 * 60 <= int(cookie["max-age"]) <= 70 * 60
    assert "status.html" in person.get(status).templates[0].name

    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=61)):
        page = person.get(status)
    assert page.templates[0].name == "requests_app/public/prove_email.html"


def test_a_staff_session_keeps_its_own_limits(org, staff, settings):
    client = Client()
    sign_in(client, staff["handler"])
    age = client.session.get_expiry_age()
    assert age == settings.STAFF_SESSION_MAX_HOURS * 3600
