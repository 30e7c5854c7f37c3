"""Shared set-up for the fulfilment tests: people with data and disclosures, verified requests
for them, staff of FRAMSTEGET, and the e-mails a real worker process sent.

Import with `from tests.requests_app.fulfilment_base import *` (it brings the staff fixtures).
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import time
from pathlib import Path

import pytest
from django.conf import settings

import requests_app.tasks  # noqa: F401  (registers the fulfilment tasks, as autodiscovery does)
from requests_app.models import OutboxMessage, SubjectRequest
from requests_app.services.matching import request_match
from retention.demo import demo_seed
from retention.models import DataSubject, Disclosure, Record, SubjectIdentifier
from retention.services.expiry import records_refresh
from tests.requests_app import staff_base
from tests.requests_app.staff_base import *  # noqa: F403
from tests.requests_app.staff_base import _user, make_request

__all__ = [
    *staff_base.__all__,
    "ANNA",
    "SARA",
    "customer",
    "framsteget",
    "framsteget_staff",
    "messages_of",
    "outbox_of",
    "verified_request",
    "wait_for",
    "worker_mail",
]

ANNA = "anna.andersson@example.se"  # FRAMSTEGET customer of seed_demo (paid invoices)
SARA = "sara.nilsson@example.se"  # Expektra client contact of seed_demo (CRM marketing)
COLLECTED = dt.datetime(2026, 3, 14, 9, 30, tzinfo=dt.UTC)


def verified_request(organisation, *, kind: str, email: str, details: dict | None = None, **kw):
    """A verified request of `kind`, matched to the organisation's subjects as verification does."""
    request = make_request(organisation, kind=kind, email=email, **kw)
    request.details = details or {}
    request.save(update_fields=["details"])
    request_match(request=request)
    return SubjectRequest.objects.select_related("organisation").get(pk=request.pk)


def customer(org, *, name: str = "anna", email: str = "anna@example.org") -> DataSubject:
    """A Testbolaget customer with data for every purpose, some of it disclosed to the mailer.

    | record      | category | purpose    | basis               | disclosed to |
    | name-1      | contact  | delivery   | contract            | mailer       |
    | order-1     | orders   | delivery   | contract            |              |
    | marketing-1 | contact  | marketing  | legitimate interest | mailer       |
    | analytics-1 | orders   | analytics  | legitimate interest |              |
    | letter-1    | contact  | newsletter | consent             |              |
    """
    subject = DataSubject.objects.create(organisation=org, external_id=f"cust-{name}")
    SubjectIdentifier.objects.create(organisation=org, subject=subject, kind="email", value=email)
    SubjectIdentifier.objects.create(
        organisation=org, subject=subject, kind="phone", value="+46701740605"
    )
    rows = [
        ("name-1", "contact", "delivery", {"name": "Anna Andersson", "email": email}),
        ("order-1", "orders", "delivery", {"order_number": "1001", "amount": "399"}),
        ("marketing-1", "contact", "marketing", {"name": "Anna Andersson", "email": email}),
        ("analytics-1", "orders", "analytics", {"order_number": "1001", "amount": "399"}),
        ("letter-1", "contact", "newsletter", {"email": email}),
    ]
    records = Record.objects.bulk_create(
        [
            Record(
                organisation=org,
                subject=subject,
                category=org.categories.get(key=category),
                purpose=org.purposes.get(key=purpose),
                rule=org.purposes.get(key=purpose).retention_rule,
                external_id=f"{name}-{external_id}",
                data=data,
                source="provided",
                collected_at=COLLECTED,
            )
            for external_id, category, purpose, data in rows
        ]
    )
    mailer = org.recipients.get(key="mailer")
    for record in (records[0], records[2]):
        Disclosure.objects.create(
            organisation=org,
            recipient=mailer,
            subject=subject,
            record=record,
            category=record.category,
            disclosed_at=COLLECTED + dt.timedelta(days=1),
            external_id=f"{record.external_id}-to-mailer",
        )
    records_refresh(organisation=org)
    return subject


@pytest.fixture
def framsteget(organisations):
    """FRAMSTEGET with the fixed demo people of `seed_demo` (Anna and the others)."""
    demo_seed(subjects=0)
    return organisations["framsteget"]


@pytest.fixture
def framsteget_staff(framsteget):
    """{role: user} in FRAMSTEGET."""
    return {role: _user(f"{role}-fs", [(framsteget, role)]) for role in staff_base.ROLES}


def outbox_of(task_name: str) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(task_name=task_name).order_by("id"))


def wait_for(condition, *, timeout: float = 60, what: str = "the worker") -> None:
    """Poll until `condition()` is true (the worker acts in its own process)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not get there within {timeout} s"
        time.sleep(0.1)


def worker_mail() -> list[email.message.EmailMessage]:
    """Every message a worker process wrote to the mail directory (file backend), oldest first."""
    directory = Path(settings.EMAIL_FILE_PATH)
    found = []
    for path in sorted(directory.glob("*.log"), key=lambda p: p.stat().st_mtime_ns):
        for chunk in path.read_bytes().split(b"-" * 79):
            if chunk.strip():
                found.append(email.message_from_bytes(chunk.lstrip(), policy=email.policy.default))
    return found


def messages_of(to: str, *, reference: str = "") -> list[tuple[str, str]]:
    """(subject, plain-text body) of the worker's messages to `to` (about `reference`)."""
    result = []
    for message in worker_mail():
        if to not in str(message["To"]):
            continue
        body = message.get_body(preferencelist=("plain",)).get_content()
        subject = str(message["Subject"])
        if reference and reference not in body and reference not in subject:
            continue
        result.append((subject, body))
    return result
