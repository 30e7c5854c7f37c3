"""The Django admin (/admin/) needs the second factor: a password alone never opens it."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.requests_app.conftest import (
    clean_redis,  # noqa: F401  (autouse)
    fast_password_hashing,  # noqa: F401
)
from tests.requests_app.helpers import PASSWORD, current_code

STAFF_LOGIN = "/staff/login/?next=%2Fadmin%2F"


@pytest.fixture
def superuser(db):
    user = get_user_model().objects.create_superuser(
        username="root", password=PASSWORD, email="root@staff.example.org"
    )
    TOTPDevice.objects.create(user=user, name="TOTP", confirmed=True)
    return user


def test_a_superuser_signed_in_with_the_password_only_is_sent_to_the_staff_sign_in(superuser):
    client = Client()
    assert client.login(username="root", password=PASSWORD)  # the password, no TOTP code

    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/"
    assert client.get("/admin/login/?next=/admin/")["Location"] == STAFF_LOGIN
    assert client.get("/admin/auth/user/").status_code == 302


def test_the_admin_sign_in_form_accepts_no_password(superuser):
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == STAFF_LOGIN
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_the_admin_sign_in_sends_nobody_to_another_site(superuser):
    response = Client().get("/admin/login/?next=https://evil.example.net/")
    assert response["Location"] == "/staff/login/?next=%2Fadmin%2F"


def test_after_the_totp_code_the_superuser_gets_into_the_admin(superuser):
    client = Client()
    response = client.post(
        STAFF_LOGIN, {"username": "root", "password": PASSWORD, "next": "/admin/"}
    )
    assert response["Location"] == "/staff/login/code/"
    assert client.get("/admin/").status_code == 302  # the password alone: not yet

    response = client.post("/staff/login/code/", {"code": current_code(superuser)})
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    response = client.get("/admin/")
    assert response.status_code == 200
    assert client.get("/admin/auth/user/").status_code == 200


def test_a_verified_user_who_is_not_staff_still_gets_no_admin(superuser):
    get_user_model().objects.filter(pk=superuser.pk).update(is_staff=False)
    client = Client()
    client.post(STAFF_LOGIN, {"username": "root", "password": PASSWORD, "next": "/admin/"})
    client.post("/staff/login/code/", {"code": current_code(superuser)})
    assert client.get("/admin/").status_code == 302


def test_an_idle_admin_session_ends_as_a_staff_session_does(superuser, settings):
    client = Client()
    client.post(STAFF_LOGIN, {"username": "root", "password": PASSWORD, "next": "/admin/"})
    client.post("/staff/login/code/", {"code": current_code(superuser)})
    assert client.get("/admin/").status_code == 200

    session = client.session
    session["staff_seen_at"] -= settings.STAFF_SESSION_IDLE_MINUTES * 60 + 1
    session.save()

    assert client.get("/admin/").status_code == 302
    assert "_auth_user_id" not in client.session  # signed out, not only turned away
