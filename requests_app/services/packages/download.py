"""Reading a package's file: the person's download and the staff's review, both audited."""

from __future__ import annotations

import datetime as dt
import time
import zipfile
from collections.abc import Iterator

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from requests_app.encryption import DecryptionError, EncryptedReader
from requests_app.models import DataPackage
from requests_app.permissions import Action, permission_require
from requests_app.services.packages.common import (
    PackageUnavailable,
    State,
    package_audit,
    package_context,
    package_path,
)
from retention.models import AuditEntry


def download_proof_fresh(proved_at: float | dt.datetime | None) -> bool:
    """Did the person prove their e-mail address with a code recently enough to download?"""
    if proved_at is None:
        return False
    if isinstance(proved_at, dt.datetime):
        proved_at = proved_at.timestamp()
    age = time.time() - float(proved_at)
    return -60 <= age <= settings.PACKAGE_DOWNLOAD_PROOF_MINUTES * 60


def package_open(package: DataPackage) -> tuple:
    """The open raw file and its decrypting reader; PackageUnavailable if the file is gone."""
    try:
        raw = open(package_path(package), "rb")  # noqa: SIM115  (closed by the caller's stream)
    except FileNotFoundError as exc:
        raise PackageUnavailable("expired") from exc
    try:
        return raw, EncryptedReader(raw, context=package_context(package))
    except DecryptionError:
        raw.close()
        raise


def _stream(raw, chunks) -> Iterator[bytes]:
    try:
        yield from chunks
    finally:
        raw.close()


def package_available(package: DataPackage | None, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return (
        package is not None
        and package.state == State.RELEASED
        and package.expires_at is not None
        and package.expires_at > now
    )


def package_download(*, package: DataPackage, channel: str) -> Iterator[bytes]:
    """The decrypted file for the person, chunk by chunk; the download is counted and audited.

    The caller has checked the fresh proof of the e-mail address and that the
    package belongs to the request the person proved. Raises
    `PackageUnavailable` when the package is not released or has expired.
    """
    now = timezone.now()
    if package.state == State.EXPIRED or (
        package.state == State.RELEASED and not package_available(package, now)
    ):
        raise PackageUnavailable("expired")
    if package.state != State.RELEASED:
        raise PackageUnavailable("not_released")
    raw, reader = package_open(package)
    try:
        with transaction.atomic():
            counted = DataPackage.objects.filter(
                pk=package.pk, state=State.RELEASED, expires_at__gt=now
            ).update(download_count=F("download_count") + 1, last_downloaded_at=now)
            if not counted:
                raise PackageUnavailable("expired")
            package_audit(
                package,
                package.request,
                "requests.package.downloaded",
                actor_kind=AuditEntry.ActorKind.SUBJECT,
                data={"channel": channel, "size": package.size},
            )
    except BaseException:
        raw.close()
        raise
    return _stream(raw, reader.iter_chunks())


def package_staff_open(*, package: DataPackage, actor, part: str = "file") -> Iterator[bytes]:
    """The package for staff review: the whole file, or (`part="report"`) the access report.

    Needs the handler role; every opening is audited. Only a package whose file
    exists (ready or released) can be opened.
    """
    permission_require(
        user=actor, action=Action.REVIEW_PACKAGE, organisation_id=package.request.organisation_id
    )
    if package.state not in (State.READY, State.RELEASED):
        raise PackageUnavailable("not_released" if package.state == State.BUILDING else "expired")
    if part == "report" and package.kind != DataPackage.Kind.ACCESS:
        raise PackageUnavailable("not_released")
    raw, reader = package_open(package)
    try:
        if part == "report":
            archive = zipfile.ZipFile(reader)
            member = archive.open("report.html")
            chunks = iter(lambda: member.read(64 * 1024), b"")
        else:
            chunks = reader.iter_chunks()
        package_audit(
            package,
            package.request,
            "requests.package.reviewed",
            actor_kind=AuditEntry.ActorKind.STAFF,
            actor_id=actor.pk,
            data={"part": part},
        )
    except BaseException:
        raw.close()
        raise
    return _stream(raw, chunks)
