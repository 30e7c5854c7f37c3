"""What the package modules share: task names, the file's place and key context, the audit."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.urls import reverse

from requests_app.models import DataPackage, SubjectRequest
from requests_app.services.emails import public_url
from retention.audit import log_action
from retention.models import AuditEntry

READY_EMAIL_TASK = "requests_app.tasks.package_ready_email"
BUILD_TASK = "requests_app.tasks.package_build"
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"  # requests_app/schemas
SCHEMA_VERSION = "1"

State = DataPackage.State


class PackageUnavailable(Exception):
    """The person cannot download (any more): `reason` is "not_released" or "expired"."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def package_path(package: DataPackage) -> Path:
    """Where the package's encrypted file is (`PACKAGE_DIR`, shared by web and workers)."""
    return Path(settings.PACKAGE_DIR) / package.file_name


def package_context(package: DataPackage) -> bytes:
    """Authenticated with every chunk: a file cannot pass for another package's."""
    return f"dsr-portal package {package.pk} {package.public_id}".encode()


def schema_url(name: str) -> str:
    """The public address of a package's JSON schema (`requests_app/schemas/<name>.schema.json`)."""
    return public_url(reverse("requests_public:schema", kwargs={"name": name}))


def package_audit(
    package: DataPackage,
    request: SubjectRequest,
    action: str,
    *,
    actor_kind: str = AuditEntry.ActorKind.SYSTEM,
    actor_id: int | None = None,
    data: dict | None = None,
) -> None:
    """Package events go on the request's timeline; data: ids and counts only."""
    log_action(
        action=action,
        actor_kind=actor_kind,
        actor_id=actor_id,
        organisation=request.organisation,
        object_type="subject_request",
        object_id=request.pk,
        data={"package_id": package.pk, **(data or {})},
    )
