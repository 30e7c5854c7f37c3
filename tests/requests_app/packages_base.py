"""Shared set-up for the package tests: a person with data of every kind in Testbolaget,
an approved access or portability request for them, and reading a package back.

Import with `from tests.requests_app.packages_base import *` (it brings the staff fixtures).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest
from django.utils import timezone

import requests_app.tasks  # noqa: F401  (registers the tasks, as autodiscovery does)
from requests_app.encryption import EncryptedReader
from requests_app.models import (
    DataPackage,
    MatchMethod,
    ProofMethod,
    RequestStatus,
    RequestSubjectMatch,
    SubjectRequest,
)
from requests_app.services import packages
from requests_app.services.packages.common import package_context
from retention.models import DataSubject, Disclosure, Record
from tests.requests_app import staff_base
from tests.requests_app.staff_base import *  # noqa: F403
from tests.requests_app.staff_base import make_request

__all__ = [
    *staff_base.__all__,
    "COLLECTED",
    "approved_request",
    "package_dir",
    "package_bytes",
    "package_json",
    "package_zip",
    "person_with_data",
]

COLLECTED = dt.datetime(2026, 3, 14, 9, 30, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def package_dir(settings, tmp_path):
    """Every test writes its packages to a directory of its own."""
    settings.PACKAGE_DIR = tmp_path / "packages"
    return settings.PACKAGE_DIR


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
