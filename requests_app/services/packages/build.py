"""Starting and building a package (the worker).

`package_start` creates the package row (`building`) and moves the request to
`fulfilling` in one transaction; `package_build`, under a PostgreSQL advisory
lock (two workers never build the same package; a worker that dies releases it
with its connection), streams the file into an encrypted writer
(`requests_app.encryption`): the plaintext never touches the disk. The
package is then `ready`, and released at once if the organisation says so.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone, translation

from requests_app.encryption import EncryptedWriter
from requests_app.models import DataPackage, RequestKind, RequestStatus, SubjectRequest
from requests_app.selectors.matching import request_proven_by_email_only, request_subject_ids
from requests_app.services.outbox import outbox_message_finish
from requests_app.services.packages.common import State, package_audit, package_context
from requests_app.services.packages.files import write_access, write_portability
from requests_app.services.packages.release import auto_release_enabled, package_release_locked
from requests_app.services.workflow import StaffActionError, request_locked, status_set

_LOCK_NAMESPACE = 0x504B47  # "PKG": advisory locks (namespace, package id)


def package_start(*, request_id: int, outbox_message_id: int | None = None) -> DataPackage | None:
    """Build the package of an approved access or portability request (idempotent).

    Safe to run twice, also at the same time: the package row is unique per
    request, a built package is never rebuilt, and a build in progress
    elsewhere is left alone. A build that a dead worker left half-done is
    started again from scratch (nothing of it was kept).
    """
    with transaction.atomic():
        request = request_locked(request_id)
        # The message is done here: from now on the package row and `packages_resume` see to
        # the build (a dead worker's build is started again).
        outbox_message_finish(outbox_message_id)
        if request is None or request.kind not in (RequestKind.ACCESS, RequestKind.PORTABILITY):
            return None
        package = DataPackage.objects.filter(request=request).first()
        if package is None:
            if request.status not in (RequestStatus.APPROVED, RequestStatus.FULFILLING):
                return None  # cancelled, refused or completed meanwhile
            now = timezone.now()
            package = DataPackage.objects.create(
                request=request, kind=request.kind, format=_format_for(request), created_at=now
            )
            if request.status == RequestStatus.APPROVED:
                status_set(request=request, status=RequestStatus.FULFILLING, now=now)
            package_audit(
                package,
                request,
                "requests.package.started",
                data={
                    "kind": package.kind,
                    "format": package.format,
                    "outbox_message_id": outbox_message_id,
                },
            )
    if package.state != State.BUILDING:
        return package
    return package_build(package_id=package.pk) or package


def _format_for(request: SubjectRequest) -> str:
    if request.kind == RequestKind.ACCESS:
        return DataPackage.Format.ZIP
    return DataPackage.Format.CSV if request.details.get("format") == "csv" else "json"


class _AdvisoryLock:
    """A session-level advisory lock: held until released, or until the connection dies."""

    def __init__(self, package_id: int):
        self.key = (_LOCK_NAMESPACE, package_id)
        self.acquired = False

    def __enter__(self) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", list(self.key))
            self.acquired = bool(cursor.fetchone()[0])
        return self.acquired

    def __exit__(self, *exc) -> None:
        if self.acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", list(self.key))


def package_build(*, package_id: int) -> DataPackage | None:
    """Write the encrypted file of a `building` package, then mark it `ready`.

    Returns None when another worker is building it right now.
    """
    with _AdvisoryLock(package_id) as acquired:
        if not acquired:
            return None
        package = (
            DataPackage.objects.select_related("request__organisation")
            .filter(pk=package_id)
            .first()
        )
        if package is None or package.state != State.BUILDING:
            return package
        DataPackage.objects.filter(pk=package_id).update(
            build_attempts=F("build_attempts") + 1, build_started_at=timezone.now()
        )
        request = package.request
        # Only the included subjects whose identity was proven (`match_selectors`).
        subject_ids = request_subject_ids(request=request)
        directory = Path(settings.PACKAGE_DIR)
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            _build_error_note(package_id, exc)
            raise
        name = f"{uuid.uuid4().hex}.dsrpkg"
        final, part = directory / name, directory / f".{name}.part"
        try:
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as raw:
                writer = EncryptedWriter(raw, context=package_context(package))
                tz = ZoneInfo(request.organisation.time_zone)
                with translation.override(request.language), timezone.override(tz):
                    if package.kind == DataPackage.Kind.ACCESS:
                        contents = write_access(writer, request, subject_ids)
                    else:
                        contents = write_portability(writer, request, package, subject_ids)
                writer.close()
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(part, final)
        except BaseException as exc:
            if isinstance(exc, Exception):
                _build_error_note(package_id, exc)
            part.unlink(missing_ok=True)
            raise
        contents["subjects"] = len(subject_ids)
        return _package_built(package_id, name, writer.sha256, writer.size, contents)


def _build_error_note(package_id: int, exc: Exception) -> None:
    """Keep the failed build's error for staff: its class name only, never its message."""
    with contextlib.suppress(DatabaseError):  # a broken connection: raise the first error
        DataPackage.objects.filter(pk=package_id).update(build_error=type(exc).__name__[:100])


def _package_built(
    package_id: int, name: str, sha256: str, size: int, contents: dict
) -> DataPackage:
    with transaction.atomic():
        package = (
            DataPackage.objects.select_for_update(of=("self",))
            .select_related("request__organisation")
            .get(pk=package_id)
        )
        if package.state != State.BUILDING:  # expired meanwhile (the request was closed)
            (Path(settings.PACKAGE_DIR) / name).unlink(missing_ok=True)
            return package
        package.state = State.READY
        package.file_name = name
        package.sha256 = sha256
        package.size = size
        package.contents = contents
        package.built_at = timezone.now()
        package.build_error = ""
        package.save(
            update_fields=[
                "state",
                "file_name",
                "sha256",
                "size",
                "contents",
                "built_at",
                "build_error",
            ]
        )
        package_audit(
            package,
            package.request,
            "requests.package.built",
            data={
                "size": size,
                "records": contents.get("records", 0),
                "files": [f["name"] for f in contents.get("files", [])],
            },
        )
        if (
            auto_release_enabled(package.request.organisation_id)
            and package.request.status == RequestStatus.FULFILLING
            # Only when the verified e-mail proved every included subject: a subject proven
            # by a staff identity check goes out after an approver looked at the package.
            and request_proven_by_email_only(request=package.request)
        ):
            # If the request changed meanwhile, the package waits for staff.
            with contextlib.suppress(StaffActionError):
                package_release_locked(package, actor=None)
    return package
