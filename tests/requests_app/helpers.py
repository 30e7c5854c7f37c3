"""The plain helpers of the request-workflow tests, imported by name (fixtures: conftest.py).

- intake: `submit`;
- staff: `ROLES`, `PASSWORD`, `staff_user`, `current_code`, `signed_in`, `make_request`,
  `make_subject_with_records`;
- fulfilment: `ANNA`, `SARA`, `verified_request`, `customer`, `outbox_of`, and the mail a
  worker process wrote (`worker_mail`, `messages_of`);
- packages: `COLLECTED`, `person_with_data`, `approved_request`, and reading a package back
  (`package_bytes`, `package_zip`, `package_json`).
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import json
import time
import zipfile
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from requests_app import deadlines
from requests_app.encryption import EncryptedReader
from requests_app.models import (
    DataPackage,
    MatchMethod,
    OutboxMessage,
    ProofMethod,
    RequestStatus,
    RequestSubjectMatch,
    SubjectRequest,
)
from requests_app.services import packages
from requests_app.services.matching import request_match
from requests_app.services.packages.common import package_context
from requests_app.services.requests import reference_generate, request_submit
from requests_app.staff import session as staff_views
from retention.models import (
    DataSubject,
    Disclosure,
    Record,
    StaffMembership,
    SubjectIdentifier,
)
from retention.services.expiry import records_refresh

ROLES = ["viewer", "handler", "approver", "admin"]
PASSWORD = "correct horse battery staple 42"
ANNA = "anna.andersson@example.se"  # FRAMSTEGET customer of seed_demo (paid invoices)
SARA = "sara.nilsson@example.se"  # Expektra client contact of seed_demo (CRM marketing)
COLLECTED = dt.datetime(2026, 3, 14, 9, 30, tzinfo=dt.UTC)


# --- Intake ---------------------------------------------------------------------------------


def submit(org, *, kind="access", email="anna@example.org", **extra):
    """A request filed through the service with valid, normalised input."""
    values = {
        "organisation": org,
        "kind": kind,
        "email": email,
        "full_name": "Anna Andersson",
        "language": "sv",
        "details": {"format": "json", "categories": []} if kind == "access" else {},
    }
    values.update(extra)
    return request_submit(**values)


# --- Staff ----------------------------------------------------------------------------------


def staff_user(username: str, memberships: list[tuple], *, email: str | None = None):
    """A user with a confirmed TOTP device and the given (organisation, role) memberships."""
    user = get_user_model().objects.create_user(
        username=username, password=PASSWORD, email=email or f"{username}@staff.example.org"
    )
    for organisation, role in memberships:
        StaffMembership.objects.create(user=user, organisation=organisation, role=role)
    TOTPDevice.objects.create(user=user, name="TOTP", confirmed=True)
    return user


def current_code(user) -> str:
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def signed_in(client: Client, user, *, reauth_age: float = 0) -> Client:
    """Mark the session as signed in with password and TOTP (as the real flow leaves it)."""
    from django_otp import DEVICE_ID_SESSION_KEY

    client.force_login(user)
    session = client.session
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    at = time.time()
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[staff_views.AUTH_AT] = at
    session[staff_views.SEEN_AT] = at
    session[staff_views.REAUTH_AT] = at - reauth_age
    session.save()
    return client


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


# --- Fulfilment -----------------------------------------------------------------------------


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


def outbox_of(task_name: str) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(task_name=task_name).order_by("id"))


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


# --- Packages -------------------------------------------------------------------------------


def _record(subject, category, purpose, n, source="provided", **extra) -> Record:
    org = subject.organisation
    return Record(
        organisation=org,
        subject=subject,
        category=org.categories.get(key=category),
        purpose=org.purposes.get(key=purpose),
        rule=org.purposes.get(key=purpose).retention_rule,
        external_id=f"{subject.external_id}-{n}",
        source=source,
        collected_at=COLLECTED + dt.timedelta(minutes=n),
        **extra,
    )


def person_with_data(org, *, external_id: str = "anna") -> DataSubject:
    """Anna at Testbolaget: data she gave, data observed, derived and bought, on every basis.

    | category | purpose    | basis               | source      | portable |
    | contact  | delivery   | contract            | provided    | yes      |
    | orders   | delivery   | contract            | observed    | yes      |
    | contact  | newsletter | consent             | provided    | yes      |
    | orders   | analytics  | legitimate interest | derived     | no       |
    | contact  | marketing  | legitimate interest | third_party | no       |
    | orders   | delivery   | contract, but kept only under a legal obligation after an
    |          |            | erasure (restricted, erasure_exception)            | no       |
    """
    subject = DataSubject.objects.create(organisation=org, external_id=external_id)
    Record.objects.bulk_create(
        [
            _record(
                subject,
                "contact",
                "delivery",
                1,
                data={"name": "Anna Andersson", "email": "anna@example.org", "phone": "+46701"},
            ),
            _record(
                subject,
                "orders",
                "delivery",
                2,
                source="observed",
                data={"order_number": "ORD-1001", "amount": 199},
            ),
            _record(subject, "contact", "newsletter", 3, data={"email": "anna@example.org"}),
            _record(
                subject,
                "orders",
                "analytics",
                4,
                source="derived",
                data={"order_number": "SEGMENT-GOLD", "amount": 5},
            ),
            _record(
                subject,
                "contact",
                "marketing",
                5,
                source="third_party",
                source_detail="Adressbolaget AB",
                data={"name": "A. Andersson-Broker"},
            ),
            _record(
                subject,
                "orders",
                "delivery",
                6,
                data={"order_number": "KEPT-BY-LAW", "amount": 1},
                restricted_at=COLLECTED,
                restriction_ground="erasure_exception",
            ),
        ]
    )
    Disclosure.objects.create(
        organisation=org,
        recipient=org.recipients.get(key="mailer"),
        subject=subject,
        category=org.categories.get(key="contact"),
        disclosed_at=COLLECTED,
    )
    return subject


def approved_request(
    org,
    *,
    kind: str = "access",
    language: str = "sv",
    details: dict | None = None,
    subject: DataSubject | None = None,
    email: str = "anna@example.org",
) -> SubjectRequest:
    """A verified request, approved, matched to `subject` (default: a new Anna with data)."""
    request = make_request(org, kind=kind, status=RequestStatus.APPROVED, language=language)
    request.email = email
    request.details = details if details is not None else {"format": "html", "categories": []}
    request.save(update_fields=["email", "details"])
    subject = subject or person_with_data(org, external_id=f"anna-{request.reference}")
    RequestSubjectMatch.objects.create(
        request=request, subject=subject, method=MatchMethod.EMAIL, proven_by=ProofMethod.EMAIL
    )
    return request


def package_bytes(package: DataPackage) -> bytes:
    """The decrypted file, as the person gets it."""
    with open(packages.package_path(package), "rb") as raw:
        return EncryptedReader(raw, context=package_context(package)).read()


def package_zip(package: DataPackage) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(package_bytes(package))) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def package_json(package: DataPackage) -> dict:
    return json.loads(package_zip(package)["data.json"])


def now() -> dt.datetime:
    return timezone.now()
