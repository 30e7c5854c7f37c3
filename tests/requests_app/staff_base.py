"""Shared set-up for the staff-queue tests: two organisations, a user of every role with a
confirmed TOTP device, verified requests, and clients signed in with both factors.

Import the fixtures into a test module with `from tests.requests_app.staff_base import *`.
"""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

import requests_app.tasks  # noqa: F401  (registers the tasks, as autodiscovery does)
from requests_app import deadlines
from requests_app.models import (
    MatchMethod,
    ProofMethod,
    RequestStatus,
    RequestSubjectMatch,
    SubjectRequest,
)
from requests_app.services.requests import reference_generate
from requests_app.staff import session as staff_views
from retention.models import DataSubject, Record, StaffMembership

__all__ = [
    "ROLES",
    "current_code",
    "fast_password_hashing",
    "make_request",
    "make_subject_with_records",
    "signed_in",
    "staff",
    "outsider",
    "staff_client",
]

ROLES = ["viewer", "handler", "approver", "admin"]
PASSWORD = "correct horse battery staple 42"


def _user(username: str, memberships: list[tuple], *, email: str | None = None):
    user = get_user_model().objects.create_user(
        username=username, password=PASSWORD, email=email or f"{username}@staff.example.org"
    )
    for organisation, role in memberships:
        StaffMembership.objects.create(user=user, organisation=organisation, role=role)
    TOTPDevice.objects.create(user=user, name="TOTP", confirmed=True)
    return user


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff(org, other_org):
    """{role: user} in `org` (Testbolaget)."""
    return {role: _user(role, [(org, role)]) for role in ROLES}


@pytest.fixture
def outsider(other_org):
    """An admin of the other organisation only."""
    return _user("outsider", [(other_org, "admin")])


def current_code(user) -> str:
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def signed_in(client: Client, user, *, reauth_age: float = 0) -> Client:
    """Mark the session as signed in with password and TOTP (as the real flow leaves it)."""
    from django_otp import DEVICE_ID_SESSION_KEY

    client.force_login(user)
    session = client.session
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    now = time.time()
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[staff_views.AUTH_AT] = now
    session[staff_views.SEEN_AT] = now
    session[staff_views.REAUTH_AT] = now - reauth_age
    session.save()
    return client


@pytest.fixture
def staff_client():
    def _make(user, **kwargs) -> Client:
        return signed_in(Client(), user, **kwargs)

    return _make


def make_request(
    organisation,
    *,
    kind: str = "erasure",
    status: str = RequestStatus.NEW,
    email: str = "anna@example.org",
    full_name: str = "Anna Andersson",
    language: str = "sv",
    received_at=None,
    assignee=None,
) -> SubjectRequest:
    received_at = received_at or timezone.now()
    due = deadlines.due_date_for(received_at, organisation.time_zone)
    return SubjectRequest.objects.create(
        organisation=organisation,
        reference=reference_generate(),
        kind=kind,
        status=status,
        email=email,
        full_name=full_name,
        language=language,
        received_at=received_at,
        original_due_date=due,
        due_date=due,
        verified_at=received_at,
        assignee=assignee,
        match_method=MatchMethod.EMAIL,
    )


def make_subject_with_records(request: SubjectRequest, *, records: int = 3) -> DataSubject:
    organisation = request.organisation
    subject = DataSubject.objects.create(
        organisation=organisation, external_id=f"ext-{request.reference}"
    )
    category = organisation.categories.order_by("key").first()
    purpose = organisation.purposes.order_by("key").first()
    Record.objects.bulk_create(
        [
            Record(
                organisation=organisation,
                subject=subject,
                category=category,
                purpose=purpose,
                external_id=f"{request.reference}-{i}",
                data={"name": request.full_name},
                source="provided",
                collected_at=timezone.now(),
            )
            for i in range(records)
        ]
    )
    RequestSubjectMatch.objects.create(
        request=request, subject=subject, method=MatchMethod.EMAIL, proven_by=ProofMethod.EMAIL
    )
    return subject
