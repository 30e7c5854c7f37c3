"""Storage limitation for the portal itself: a closed request becomes statistics.

A request holds the person's name, e-mail address, phone number, personnummer,
customer number and what they wrote. Art. 5(2) (accountability) and Art. 12
require the organisation to show that it answered each request, how and in
time; Art. 5(1)(e) (storage limitation) forbids keeping the personal data
longer than that needs. So each organisation's policy file sets how long a
closed request is kept (`organisation.request_retention`, default three years
after closure: `retention.services.policies.request_retention_period`), and
then the request is anonymised to what the register and the reports need:

- kept: reference, type, status and outcome, the dates (received, verified,
  due, extended, closed), the language, the refusal reason codes, whether it
  was answered on time, the staff ids and every audit entry (which hold ids
  and counts only);
- removed: name, e-mail address, phone, personnummer, customer number, the
  details and free text, the extension reason, the match summary, the subject
  matches, verification codes and status tokens, staff notes, questions and
  answers, identity-check notes, the reply text, pause reasons, correction
  values and the records they pointed at, objection and lift reasons, the
  disclosures an Art. 19 notice named, the fulfilment's outcome, and any
  package file with its description.

A closed request is one that was completed, refused or cancelled (closed when
its resolution was decided), or joined to an earlier request (closed when that
one was). An open request is never touched, however old.

Run with each organisation's nightly sweep (`retention.signals.sweep_finished`):
batches of ids picked with `FOR UPDATE SKIP LOCKED`, then one statement per
table, one transaction and one audit entry (counts only) per batch; a rerun
finds nothing left to do. The day boundary is the organisation's local date:
closed on 10 March 2026 with three years, kept through 10 March 2029 and
anonymised by the first sweep on 11 March 2029.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from requests_app.models import DataPackage
from requests_app.selectors.request_retention import (
    CLOSED_BEFORE,
    count_params,
    request_retention_cutoff,
)
from retention.audit import log_action
from retention.models import AuditEntry, Organisation
from retention.services.policies import request_retention_period

DEFAULT_BATCH_SIZE = 500

PICK_SQL = f"""
SELECT r.id {CLOSED_BEFORE}
 ORDER BY r.id
 LIMIT %(limit)s
 FOR UPDATE OF r SKIP LOCKED
"""

# One statement per table; %(ids)s is the batch, %(now)s the time of the run.
ANONYMISE_SQL = [
    """UPDATE requests_app_subjectrequest
          SET email = '', full_name = '', phone = '', personnummer = '', customer_number = '',
              details = '{}'::jsonb, extension_reason = '', match_summary = '',
              anonymised_at = %(now)s, updated_at = %(now)s
        WHERE id = ANY(%(ids)s)""",
    # An identity check stays as a fact (method, who, when), no longer tied to a subject.
    """UPDATE requests_app_identitycheck SET note = '', match_id = NULL
        WHERE request_id = ANY(%(ids)s)""",
    "DELETE FROM requests_app_requestsubjectmatch WHERE request_id = ANY(%(ids)s)",
    "DELETE FROM requests_app_verificationcode WHERE request_id = ANY(%(ids)s)",
    "DELETE FROM requests_app_statustoken WHERE request_id = ANY(%(ids)s)",
    "DELETE FROM requests_app_internalnote WHERE request_id = ANY(%(ids)s)",
    "UPDATE requests_app_clockpause SET reason = '' WHERE request_id = ANY(%(ids)s)",
    """UPDATE requests_app_informationrequest SET question = '', answer = ''
        WHERE request_id = ANY(%(ids)s)""",
    "UPDATE requests_app_requestresolution SET text = '' WHERE request_id = ANY(%(ids)s)",
    """UPDATE requests_app_fulfilment SET outcome = '{}'::jsonb
        WHERE request_id = ANY(%(ids)s)""",
    """UPDATE requests_app_correctiondecision SET value = '', reason = '', record_id = NULL
        WHERE request_id = ANY(%(ids)s)""",
    "UPDATE requests_app_objectiondecision SET reason = '' WHERE request_id = ANY(%(ids)s)",
    """UPDATE requests_app_recipientnotification SET disclosure_ids = '[]'::jsonb
        WHERE request_id = ANY(%(ids)s)""",
    "UPDATE requests_app_restrictionlift SET reason = '' WHERE request_id = ANY(%(ids)s)",
    """UPDATE requests_app_datapackage
          SET file_name = '', sha256 = '', contents = '{}'::jsonb,
              state = CASE WHEN state IN ('building', 'ready', 'released') THEN 'expired'
                           ELSE state END,
              expired_at = COALESCE(expired_at, %(now)s)
        WHERE request_id = ANY(%(ids)s)""",
]


def requests_anonymise_expired(
    *,
    organisation: Organisation,
    now: dt.datetime | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> int:
    """Anonymise the organisation's requests whose retention period ended; return how many.

    Idempotent: an anonymised request is never picked again. Safe to run in
    parallel (`SKIP LOCKED`). A fixed number of statements per batch, whatever
    the number of requests, notes or tokens.
    """
    now = now or timezone.now()
    cutoff = request_retention_cutoff(organisation=organisation, now=now)
    unit, amount = request_retention_period(organisation=organisation)
    total = 0
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    PICK_SQL, {**count_params(organisation, cutoff), "limit": batch_size}
                )
                ids = [row[0] for row in cursor.fetchall()]
                if not ids:
                    break
                _package_files_delete(ids)
                for statement in ANONYMISE_SQL:
                    cursor.execute(statement, {"ids": ids, "now": now})
            log_action(
                action="requests.retention.anonymised",
                actor_kind=AuditEntry.ActorKind.SYSTEM,
                organisation=organisation,
                object_type="organisation",
                object_id=organisation.pk,
                data={
                    "requests": len(ids),
                    "closed_before": cutoff.isoformat(),
                    "period": {unit: amount},
                },
            )
        total += len(ids)
        if len(ids) < batch_size:
            break
    return total


def _package_files_delete(request_ids: list[int]) -> None:
    """The files of the batch's packages (normally long gone: packages expire in days)."""
    names = DataPackage.objects.filter(request_id__in=request_ids).exclude(file_name="")
    for name in names.values_list("file_name", flat=True):
        (Path(settings.PACKAGE_DIR) / name).unlink(missing_ok=True)
