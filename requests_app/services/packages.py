"""Access (Art. 15) and portability (Art. 20) packages: built, reviewed, released, downloaded.

The life of a package (`DataPackage`, one per request):

1. `package_start` (a worker, called by the fulfilment dispatcher for an
   approved access or portability request): the request goes `fulfilling`
   and the package row is created (`building`) in one transaction; a
   redelivered message finds the row and builds nothing twice.
2. `package_build`: under a PostgreSQL advisory lock (two workers never build
   the same package; a worker that dies releases it with its connection), the
   file is streamed from a server-side cursor straight into an encrypted
   writer (`requests_app.encryption`): the plaintext never touches the disk
   and memory stays bounded whatever the number of records. ACCESS is a ZIP
   with `report.html` (printable, in the request's language, every item of
   Art. 15(1)(a)-(h) and 15(3)) and `data.json` (the same content;
   `requests_app/schemas/access-v1.schema.json`), plus `data.csv` when the
   person asked for CSV. PORTABILITY is one JSON file
   (`portability-v1.schema.json`) or CSV. The package is then `ready`.
3. Staff review it (`package_staff_open`, audited) and release it
   (`package_release`, approver); or the organisation releases automatically
   (`OrganisationSettings.auto_release_packages`), but only when the verified
   e-mail address proved every included subject. Release completes the
   request (Art. 12(3): the reply is the data made available) and e-mails the
   person that their data is ready, how to download it and until when.
4. `package_download`: the person, in a session that proved the e-mail
   address with a fresh code (`download_proof_fresh`), or with an API token
   issued that recently; every download is audited.
5. `packages_expire` (beat): after `PACKAGE_TTL_DAYS`, or when the request
   was closed without a release, the file is deleted and the package marked
   `expired`; a download then answers 410.

A build whose worker died is started again by `packages_resume` (beat)
after `JOB_LEASE_SECONDS`, at most `JOB_MAX_ATTEMPTS` times (then `failed`,
with when and the last error's class name); an approver builds a failed
package again with `package_retry` once the cause is fixed.

Audit entries hold ids, sizes and counts, never personal data.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import html
import json
import os
import re
import secrets
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from requests_app.encryption import DecryptionError, EncryptedReader, EncryptedWriter
from requests_app.labels import field_label, period_in_words, value_text
from requests_app.models import (
    OPEN_STATUSES,
    DataPackage,
    OrganisationSettings,
    RequestKind,
    RequestStatus,
    SubjectRequest,
)
from requests_app.permissions import Action, permission_require
from requests_app.selectors.matching import request_proven_by_email_only, request_subject_ids
from requests_app.services.emails import email_send, public_url
from requests_app.services.outbox import (
    outbox_enqueue,
    outbox_message_done,
    outbox_message_finish,
    outbox_request_claim,
)
from requests_app.services.workflow import (
    InvalidTransition,
    StaffActionError,
    request_close,
    status_set,
)
from retention.audit import log_action
from retention.models import AuditEntry, Record
from retention.services import exports
from retention.services.policies import request_retention_period

READY_EMAIL_TASK = "requests_app.tasks.package_ready_email"
BUILD_TASK = "requests_app.tasks.package_build"
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
SCHEMA_VERSION = "1"
RENDER_BATCH = 500  # records per rendered piece of the HTML report
_LOCK_NAMESPACE = 0x504B47  # "PKG": advisory locks (namespace, package id)
_PART_MAX_AGE = dt.timedelta(days=1)

State = DataPackage.State


class PackageUnavailable(Exception):
    """The person cannot download (any more): `reason` is "not_released" or "expired"."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


# --- Small helpers ----------------------------------------------------------------------


def package_path(package: DataPackage) -> Path:
    return Path(settings.PACKAGE_DIR) / package.file_name


def _context(package: DataPackage) -> bytes:
    """Authenticated with every chunk: a file cannot pass for another package's."""
    return f"dsr-portal package {package.pk} {package.public_id}".encode()


def schema_url(name: str) -> str:
    return public_url(reverse("requests_public:schema", kwargs={"name": name}))


def _audit(
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


def _format_for(request: SubjectRequest) -> str:
    if request.kind == RequestKind.ACCESS:
        return DataPackage.Format.ZIP
    return DataPackage.Format.CSV if request.details.get("format") == "csv" else "json"


def download_proof_fresh(proved_at: float | dt.datetime | None) -> bool:
    """Did the person prove their e-mail address with a code recently enough to download?"""
    if proved_at is None:
        return False
    if isinstance(proved_at, dt.datetime):
        proved_at = proved_at.timestamp()
    age = time.time() - float(proved_at)
    return -60 <= age <= settings.PACKAGE_DOWNLOAD_PROOF_MINUTES * 60


def auto_release_enabled(organisation_id: int) -> bool:
    return OrganisationSettings.objects.filter(
        organisation_id=organisation_id, auto_release_packages=True
    ).exists()


def auto_release_set(*, organisation, actor, enabled: bool) -> OrganisationSettings:
    """Turn automatic release of the organisation's packages on or off (audited)."""
    with transaction.atomic():
        row, _created = OrganisationSettings.objects.select_for_update().get_or_create(
            organisation=organisation
        )
        row.auto_release_packages = enabled
        row.save(update_fields=["auto_release_packages"])
        log_action(
            action="requests.settings.changed",
            actor_kind=AuditEntry.ActorKind.STAFF if actor else AuditEntry.ActorKind.SYSTEM,
            actor_id=actor.pk if actor else None,
            organisation=organisation,
            object_type="organisation",
            object_id=organisation.pk,
            data={"auto_release_packages": enabled},
        )
    return row


# --- Start and build (the worker) ----------------------------------------------------------


def package_start(*, request_id: int, outbox_message_id: int | None = None) -> DataPackage | None:
    """Build the package of an approved access or portability request (idempotent).

    Safe to run twice, also at the same time: the package row is unique per
    request, a built package is never rebuilt, and a build in progress
    elsewhere is left alone. A build that a dead worker left half-done is
    started again from scratch (nothing of it was kept).
    """
    with transaction.atomic():
        request = (
            SubjectRequest.objects.select_for_update(of=("self",))
            .select_related("organisation")
            .filter(pk=request_id)
            .first()
        )
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
            _audit(
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
                writer = EncryptedWriter(raw, context=_context(package))
                tz = ZoneInfo(request.organisation.time_zone)
                with translation.override(request.language), timezone.override(tz):
                    if package.kind == DataPackage.Kind.ACCESS:
                        contents = _write_access(writer, request, subject_ids)
                    else:
                        contents = _write_portability(writer, request, package, subject_ids)
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
        _audit(
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
                _release(package, actor=None)
    return package


# --- What goes into the files ---------------------------------------------------------------


class _Utf8:
    """A text sink for `csv.writer` and JSON pieces, writing UTF-8 into a binary stream."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(text.encode("utf-8"))
        return len(text)


def _automated_decisions(value) -> dict:
    """The policy's automated decision-making (Art. 15(1)(h)): none unless it says so."""
    if not value:
        return {"exists": False, "text": "", "quote": ""}
    if isinstance(value, dict):
        language = translation.get_language() or "sv"
        text = value.get(f"text_{language}") or value.get("text") or value.get(language) or ""
        if isinstance(text, dict):
            text = text.get(language) or text.get("sv") or ""
        return {"exists": True, "text": str(text), "quote": str(value.get("quote") or "")}
    return {"exists": True, "text": str(value), "quote": ""}


def _overview(request: SubjectRequest, subject_ids: list[int]) -> dict:
    categories = request.details.get("categories") or None
    overview = exports.access_overview(
        organisation=request.organisation,
        subject_ids=subject_ids,
        language=request.language,
        categories=categories,
    )
    overview["automated_decision_making"] = _automated_decisions(
        overview["automated_decision_making"]
    )
    return {
        "schema": schema_url("access-v1"),
        "schema_version": SCHEMA_VERSION,
        "reference": request.reference,
        **overview,
        "scope": {"categories": list(categories or [])},
        "requests": _own_requests(request),
    }


def _own_requests(request: SubjectRequest) -> dict:
    """The person's other requests to the organisation: personal data too (Art. 15).

    Matched by the verified e-mail address of this request, and only requests
    whose address was verified (someone who proved control of the same
    address): never a request another person filed with another address.
    Anonymised requests hold no address and are not found. In the active
    language, with how long they are kept (Art. 15(1)(d)).
    """
    unit, amount = request_retention_period(organisation=request.organisation)
    others = (
        SubjectRequest.objects.filter(
            organisation_id=request.organisation_id,
            email=request.email,
            verified_at__isnull=False,
            anonymised_at__isnull=True,
        )
        .exclude(pk=request.pk)
        .exclude(email="")
        .select_related("resolution")
        .order_by("received_at", "id")
    )
    items = []
    for other in others:
        resolution = getattr(other, "resolution", None)
        items.append(
            {
                "reference": other.reference,
                "kind": other.kind,
                "kind_text": str(other.get_kind_display()),
                "received_at": timezone.localtime(other.received_at).isoformat(),
                "due_date": other.due_date.isoformat(),
                "status": other.status,
                "status_text": str(other.get_status_display()),
                "closed_at": timezone.localtime(resolution.decided_at).isoformat()
                if resolution
                else None,
            }
        )
    return {
        "retention": _(
            "We keep your requests to us for %(period)s after they are closed, to be able to "
            "show how we answered them; after that only statistics without your personal data "
            "remain."
        )
        % {"period": period_in_words(unit, amount)},
        "items": items,
    }


def _records(request: SubjectRequest, subject_ids: list[int], category: str) -> Iterator[dict]:
    for record in exports.access_records(
        organisation=request.organisation, subject_ids=subject_ids, categories=[category]
    ):
        record.pop("category")
        yield record


def _json_object(out: _Utf8, head: dict, key: str, items) -> None:
    """`head` as a JSON object whose last member, `key`, is the array of streamed `items`."""
    out.write(json.dumps(head, ensure_ascii=False)[:-1])
    out.write(f", {json.dumps(key)}: [")
    for n, item in enumerate(items):
        out.write((", " if n else "") + json.dumps(item, ensure_ascii=False))
    out.write("]}")


def _write_access(writer, request: SubjectRequest, subject_ids: list[int]) -> dict:
    head = _overview(request, subject_ids)
    with zipfile.ZipFile(writer, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("report.html", mode="w") as member:
            _write_report(member, request, head, subject_ids)
        with archive.open("data.json", mode="w") as member:
            out = _Utf8(member)
            rest = {k: v for k, v in head.items() if k != "categories"}
            out.write(json.dumps(rest, ensure_ascii=False)[:-1] + ', "categories": [')
            for n, category in enumerate(head["categories"]):
                out.write(", " if n else "")
                records = _records(request, subject_ids, category["key"])
                _json_object(out, category, "records", records)
            out.write("]}\n")
        if request.details.get("format") == "csv":
            with archive.open("data.csv", mode="w") as member:
                _write_csv(_Utf8(member), request, subject_ids, head)
        files = [{"name": i.filename, "size": i.file_size} for i in archive.infolist()]
    return {
        "files": files,
        "records": head["record_count"],
        "categories": [
            {"key": c["key"], "name": c["name"], "records": c["record_count"]}
            for c in head["categories"]
        ],
        "language": request.language,
    }


# The access CSV: the portability columns (keys, for machines), then what they mean for a
# person in the request's language: the category's and purpose's names and the field's label.
ACCESS_CSV_COLUMNS = [
    *exports.PORTABILITY_CSV_COLUMNS,
    "category_name",
    "purpose_name",
    "field_label",
]


def _write_csv(out: _Utf8, request, subject_ids, head) -> None:
    writer = csv.writer(out)
    writer.writerow(ACCESS_CSV_COLUMNS)
    for category in head["categories"]:
        records = (
            {**r, "category": category["key"]}
            for r in _records(request, subject_ids, category["key"])
        )
        purposes = {p["key"]: p["name"] for p in category["purposes"]}
        names = category["field_labels"]
        for row in exports.portability_csv_rows(records):
            _key, purpose, _source, _collected, field, _value = row
            writer.writerow(
                [
                    *row,
                    exports.csv_cell(category["name"]),
                    exports.csv_cell(purposes.get(purpose, purpose)),
                    exports.csv_cell(names.get(field) or field_label(field)),
                ]
            )


def _write_report(member, request: SubjectRequest, head: dict, subject_ids: list[int]) -> None:
    """The printable report: the page skeleton from one template, each category's records
    rendered in batches into its slot, so no more than a batch is in memory."""
    nonce = secrets.token_hex(8)
    sources = dict(Record.Source.choices)
    categories = [
        {
            **c,
            "slot": f"@@dsr-records-{nonce}-{i}@@",
            "sources": [
                {**s, "label": str(sources.get(s["source"], s["source"]))} for s in c["sources"]
            ],
        }
        for i, c in enumerate(head["categories"])
    ]
    skeleton = render_to_string(
        "requests_app/packages/access_report.html",
        {
            "content": head,
            "categories": categories,
            "request": request,
            "organisation": request.organisation,
            "generated_at": timezone.now(),
            "own_requests": [
                {
                    **item,
                    "received": dt.datetime.fromisoformat(item["received_at"]),
                    "due": dt.date.fromisoformat(item["due_date"]),
                    "closed": dt.datetime.fromisoformat(item["closed_at"])
                    if item["closed_at"]
                    else None,
                }
                for item in head["requests"]["items"]
            ],
            "landing_url": public_url(
                reverse("requests_public:landing", kwargs={"org_slug": request.organisation.slug})
            ),
        },
    )
    parts = re.split(rf"@@dsr-records-{nonce}-(\d+)@@", skeleton)
    member.write(parts[0].encode())
    for i in range(1, len(parts), 2):
        category = categories[int(parts[i])]
        purposes = {p["key"]: p["name"] for p in category["purposes"]}
        names = category["field_labels"]
        batch = []
        for record in _records(request, subject_ids, category["key"]):
            batch.append(
                {
                    "collected_at": dt.datetime.fromisoformat(record["collected_at"]),
                    "purpose": purposes.get(record["purpose"], record["purpose"]),
                    "source": str(sources.get(record["source"], record["source"])),
                    "restricted": record["restricted"],
                    "fields": [
                        (names.get(k) or field_label(k), value_text(v))
                        for k, v in sorted(record["data"].items())
                    ],
                }
            )
            if len(batch) >= RENDER_BATCH:
                member.write(_render_records(batch))
                batch = []
        if batch:
            member.write(_render_records(batch))
        member.write(parts[i + 1].encode())


def _render_records(batch: list[dict]) -> bytes:
    """Table rows of the report, built here rather than by a template loop.

    A template loop costs about 2 ms per record, which made a 10,000-record
    package take 20 s (`bench/access_package.py`). Plain `html.escape` (not
    Django's lazy-aware wrapper) on values that are always `str` here.
    """
    escape = html.escape
    restricted = f"<br><em>{escape(_('restricted: only stored'))}</em>"
    rows = []
    for record in batch:
        fields = "".join(
            f"<dt>{escape(str(k))}</dt><dd>{escape(str(v))}</dd>" for k, v in record["fields"]
        )
        source = str(record["source"])
        rows.append(
            f"<tr><td>{timezone.localtime(record['collected_at']):%Y-%m-%d}</td>"
            f"<td>{escape(str(record['purpose']))}</td>"
            f"<td>{escape(source[:1].upper() + source[1:])}"
            f"{restricted if record['restricted'] else ''}</td>"
            f"<td><dl>{fields}</dl></td></tr>\n"
        )
    return "".join(rows).encode()


def _write_portability(writer, request, package, subject_ids: list[int]) -> dict:
    out = _Utf8(writer)
    records = _Counter(
        exports.portability_records(organisation=request.organisation, subject_ids=subject_ids)
    )
    if package.format == DataPackage.Format.CSV:
        csv_writer = csv.writer(out)
        csv_writer.writerow(exports.PORTABILITY_CSV_COLUMNS)
        csv_writer.writerows(exports.portability_csv_rows(records))
    else:
        head = {
            "schema": schema_url("portability-v1"),
            "schema_version": exports.PORTABILITY_SCHEMA_VERSION,
            "organisation": request.organisation.legal_name,
            "generated_at": timezone.now().isoformat(),
        }
        _json_object(out, head, "records", records)
        out.write("\n")
    return {
        "files": [{"name": f"data.{package.format}", "size": writer.size}],
        "records": records.count,
        "categories": [],
        "language": request.language,
    }


class _Counter:
    """Counts the items of an iterator as they pass."""

    def __init__(self, items):
        self.items = items
        self.count = 0

    def __iter__(self):
        for item in self.items:
            self.count += 1
            yield item


# --- Release (staff, or automatically) -------------------------------------------------------


def package_release(*, package: DataPackage, actor) -> DataPackage:
    """Make the package available to the person; this completes the request (Art. 12(3))."""
    permission_require(
        user=actor, action=Action.RELEASE_PACKAGE, organisation_id=package.request.organisation_id
    )
    with transaction.atomic():
        package = DataPackage.objects.select_for_update(of=("self",)).get(pk=package.pk)
        return _release(package, actor=actor)


def _release(package: DataPackage, *, actor) -> DataPackage:
    """In the caller's transaction, with the package row locked."""
    request = (
        SubjectRequest.objects.select_for_update(of=("self",))
        .select_related("organisation")
        .get(pk=package.request_id)
    )
    if package.state != State.READY:
        raise StaffActionError(
            _("Only a package that is built and not yet released can be released."),
            code="package_not_ready",
        )
    if request.status != RequestStatus.FULFILLING:
        raise InvalidTransition(
            _("This request is “%(status)s”: its package can no longer be released.")
            % {"status": request.get_status_display()}
        )
    now = timezone.now()
    package.state = State.RELEASED
    package.released_at = now
    package.released_by = actor
    package.expires_at = now + dt.timedelta(days=settings.PACKAGE_TTL_DAYS)
    package.save(update_fields=["state", "released_at", "released_by", "expires_at"])
    with translation.override(request.language):
        until = formats.date_format(
            timezone.localtime(package.expires_at, ZoneInfo(request.organisation.time_zone)),
            "j F Y",
        )
        reply = _(
            "Your data is ready. Download it from the page of your request until %(until)s, "
            "after confirming your e-mail address with a new code."
        ) % {"until": until}
    resolution = request_close(
        request=request, actor=actor, outcome=RequestStatus.COMPLETED, now=now, text=reply
    )
    actor_kind = AuditEntry.ActorKind.STAFF if actor else AuditEntry.ActorKind.SYSTEM
    actor_id = actor.pk if actor else None
    _audit(
        package,
        request,
        "requests.package.released",
        actor_kind=actor_kind,
        actor_id=actor_id,
        data={"automatic": actor is None, "expires_at": package.expires_at.isoformat()},
    )
    log_action(
        action="requests.request.completed",
        actor_kind=actor_kind,
        actor_id=actor_id,
        organisation=request.organisation,
        object_type="subject_request",
        object_id=request.pk,
        data={"from": RequestStatus.FULFILLING, "on_time": resolution.on_time},
    )
    outbox_enqueue(task_name=READY_EMAIL_TASK, payload={"request_id": request.pk})
    return package


def package_ready_email_send(*, request_id: int, outbox_message_id: int) -> bool:
    """E-mail the person that their data is ready (the Celery task calls this; once per message)."""
    with transaction.atomic():
        message, request = outbox_request_claim(outbox_message_id, request_id)
        if request is None:
            return False
        package = DataPackage.objects.filter(request=request, state=State.RELEASED).first()
        if package is not None:
            tz = ZoneInfo(request.organisation.time_zone)
            with timezone.override(tz):  # dates in the e-mail: the organisation's time
                email_send(
                    request=request,
                    template="package_ready",
                    context={
                        "package": package,
                        "expires_at": package.expires_at,
                        "file_name": package.download_name(request.reference),
                        "status_url": public_url(
                            reverse(
                                "requests_public:status",
                                kwargs={
                                    "org_slug": request.organisation.slug,
                                    "reference": request.reference,
                                },
                            )
                        ),
                        "proof_minutes": settings.PACKAGE_DOWNLOAD_PROOF_MINUTES,
                    },
                )
        outbox_message_done(message)
    return package is not None


# --- Reading the file: the person, and staff ----------------------------------------------


def _open(package: DataPackage) -> tuple:
    """The open raw file and its decrypting reader; PackageUnavailable if the file is gone."""
    try:
        raw = open(package_path(package), "rb")  # noqa: SIM115  (closed by the caller's stream)
    except FileNotFoundError as exc:
        raise PackageUnavailable("expired") from exc
    try:
        return raw, EncryptedReader(raw, context=_context(package))
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
    raw, reader = _open(package)
    try:
        with transaction.atomic():
            counted = DataPackage.objects.filter(
                pk=package.pk, state=State.RELEASED, expires_at__gt=now
            ).update(download_count=F("download_count") + 1, last_downloaded_at=now)
            if not counted:
                raise PackageUnavailable("expired")
            _audit(
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
    raw, reader = _open(package)
    try:
        if part == "report":
            archive = zipfile.ZipFile(reader)
            member = archive.open("report.html")
            chunks = iter(lambda: member.read(64 * 1024), b"")
        else:
            chunks = reader.iter_chunks()
        _audit(
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


# --- Expiry (beat) -------------------------------------------------------------------------


def packages_expire(*, now: dt.datetime | None = None, batch_size: int = 100) -> int:
    """Delete the files of expired packages and of packages whose request closed unreleased.

    Batches of rows claimed with `FOR UPDATE SKIP LOCKED` (two sweeps never
    take the same package); each file is deleted before its row is marked, in
    the same transaction, so a row never says "released" about a file that a
    crash left behind. Returns how many packages expired.
    """
    now = now or timezone.now()
    due = Q(state=State.RELEASED, expires_at__lte=now) | Q(
        state__in=[State.BUILDING, State.READY], request__status__in=_closed_statuses()
    )
    expired = 0
    while True:
        with transaction.atomic():
            packages = list(
                DataPackage.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("request__organisation")
                .filter(due)
                .order_by("pk")[:batch_size]
            )
            if not packages:
                break
            for package in packages:
                if package.file_name:
                    package_path(package).unlink(missing_ok=True)
            DataPackage.objects.filter(pk__in=[p.pk for p in packages]).update(
                state=State.EXPIRED, expired_at=now
            )
            for package in packages:
                _audit(
                    package,
                    package.request,
                    "requests.package.expired",
                    data={
                        "reason": "ttl" if package.state == State.RELEASED else "request_closed",
                        "downloads": package.download_count,
                    },
                )
            expired += len(packages)
    _remove_stale_parts(now)
    return expired


def packages_resume(*, now: dt.datetime | None = None) -> int:
    """Start again the builds whose worker died (beat, every JOB_RECLAIM_INTERVAL).

    A build not finished JOB_LEASE_SECONDS after it started is handed to a
    worker again through the outbox; if it is in fact still running, its
    advisory lock makes the new task a no-op. After JOB_MAX_ATTEMPTS starts the
    package is marked `failed` for staff to see. Returns how many were resumed.
    """
    now = now or timezone.now()
    stale = now - dt.timedelta(seconds=settings.JOB_LEASE_SECONDS)
    resumed = 0
    with transaction.atomic():
        candidates = list(
            DataPackage.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("request__organisation")
            .filter(state=State.BUILDING, request__status__in=OPEN_STATUSES)
            .filter(
                Q(build_started_at__lt=stale)
                | Q(build_started_at__isnull=True, created_at__lt=stale)
            )
            .order_by("pk")[:100]
        )
        for package in candidates:
            if package.build_attempts >= settings.JOB_MAX_ATTEMPTS:
                DataPackage.objects.filter(pk=package.pk).update(state=State.FAILED, failed_at=now)
                _audit(
                    package,
                    package.request,
                    "requests.package.failed",
                    data={"attempts": package.build_attempts, "error": package.build_error},
                )
                continue
            # Not again before another lease has passed.
            DataPackage.objects.filter(pk=package.pk).update(build_started_at=now)
            outbox_enqueue(task_name=BUILD_TASK, payload={"request_id": package.request_id})
            resumed += 1
    return resumed


def package_retry(*, request: SubjectRequest, actor) -> DataPackage:
    """Build a `failed` package again (an approver, once the cause is fixed); audited.

    The package goes back to `building` with its attempts and error cleared and
    a build is queued through the outbox; `packages_resume` starts it again if
    that message is lost. Refused (`InvalidTransition`, code `nothing_failed`)
    when the package has not failed.
    """
    permission_require(
        user=actor, action=Action.RETRY_FULFILMENT, organisation_id=request.organisation_id
    )
    with transaction.atomic():
        request = (
            SubjectRequest.objects.select_for_update(of=("self",))
            .select_related("organisation")
            .get(pk=request.pk)
        )
        package = DataPackage.objects.select_for_update().filter(request=request).first()
        if package is None or package.state != State.FAILED:
            raise InvalidTransition(
                _("The package has not failed, so there is nothing to build again."),
                code="nothing_failed",
            )
        if request.status != RequestStatus.FULFILLING:
            raise InvalidTransition(
                _("This request is “%(status)s”: its package can no longer be built again.")
                % {"status": request.get_status_display()}
            )
        attempts, error = package.build_attempts, package.build_error
        now = timezone.now()
        DataPackage.objects.filter(pk=package.pk).update(
            state=State.BUILDING,
            build_attempts=0,
            build_error="",
            failed_at=None,
            # Not handed out by `packages_resume` before a lease has passed.
            build_started_at=now,
        )
        message = outbox_enqueue(task_name=BUILD_TASK, payload={"request_id": request.pk})
        _audit(
            package,
            request,
            "requests.package.retried",
            actor_kind=AuditEntry.ActorKind.STAFF,
            actor_id=actor.pk,
            data={"attempts": attempts, "error": error, "outbox_message_id": message.pk},
        )
        package.refresh_from_db()
    return package


def _closed_statuses() -> list[str]:
    return [s for s in RequestStatus.values if s not in OPEN_STATUSES]


def _remove_stale_parts(now: dt.datetime) -> None:
    """Half-written files of builds whose worker died (a new build starts a new file)."""
    directory = Path(settings.PACKAGE_DIR)
    if not directory.is_dir():
        return
    cutoff = (now - _PART_MAX_AGE).timestamp()
    for part in directory.glob(".*.part"):
        try:
            if part.stat().st_mtime < cutoff:
                part.unlink(missing_ok=True)
        except FileNotFoundError:
            continue
