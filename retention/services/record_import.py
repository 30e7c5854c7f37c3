"""Importing an organisation's data subjects and records into the record store.

The import format is JSON Lines: one data subject per line, with the
subject's identifiers, records and disclosures (see `records_import`).

Design:

- Streaming. Lines are read one at a time and written in batches of
  `batch_size` subjects, each batch in its own transaction. A file of any
  size needs memory for one batch only (plus the list of invalid lines).
- Every line is validated completely before it is written; an invalid line
  is skipped and reported with its line number and the reason. A reason
  names the field, never its value: the values are personal data.
- Set-based SQL. Each batch is a constant number of statements
  (`INSERT ... SELECT FROM unnest(...) ON CONFLICT ...`), however many rows
  it holds; there is no per-row `save()`.
- Idempotent. Subjects and records are upserted on (organisation,
  external_id), identifiers on (subject, kind, value), disclosures on
  (organisation, external_id). An upsert only writes a row whose values
  differ, so importing the same file twice changes nothing, not even
  `updated_at`. Lines are applied in order: a later line for the same
  subject adds to it, a later line with the same record id updates it.
- Additive. An import never deletes: records, identifiers and disclosures
  that a file no longer mentions stay until the retention sweeps or an
  erasure remove them. A record that was anonymised, restricted or reduced
  to its bookkeeping fields is never overwritten (it counts as unchanged),
  so re-importing an old export cannot bring erased data back into it.
- Erased subjects stay erased. A subject whose external id, e-mail,
  personnummer or customer number matches an `ErasureTombstone` of the
  organisation (`retention.services.erasure`) gets none of its records
  collected at or before the erasure (`collected_at`, which every record
  has), nor its disclosures given by then; they are counted as
  `records_skipped_erased` and `disclosures_skipped_erased`. Records
  collected later (the person came back) are imported. A line of an erased
  subject with nothing newer to import is skipped whole, identifiers
  included (`subjects_skipped_erased`): a line without records has no date,
  so it is treated as old. A partial erasure only blocks its categories.
  One query per batch, whatever its size.
- Expiries: after the import, `retention.services.expiry.records_refresh`
  recomputes the rules and expiries of each organisation it touched (one
  statement each; only changed rows are written).

The rows and their writer are in `retention.services.records` (`seed_demo`
writes through the same writer); the tombstone check is in
`retention.services.tombstones`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from django.core.exceptions import ValidationError
from django.utils import translation

from retention.audit import log_action
from retention.identifiers import (
    normalise_customer_number,
    normalise_email,
    normalise_personnummer,
    normalise_phone,
)
from retention.models import DataCategory, Organisation, Purpose, Record, SubjectIdentifier
from retention.services.expiry import records_refresh
from retention.services.records import (
    DisclosureRow,
    RecordRow,
    SubjectRow,
    WriteCounts,
    disclosure_external_id,
    record_rules_for_organisation,
    subject_rows_write,
)
from retention.services.tombstones import without_erased

# --------------------------------------------------------------------------

SAFE_KEY_RE = re.compile(r"^[a-z0-9_-]{1,60}$")
MAX_EXTERNAL_ID = 100

_SUBJECT_KEYS = {"organisation", "external_id", "identifiers", "records", "disclosures"}
_RECORD_KEYS = {
    "external_id",
    "category",
    "purpose",
    "data",
    "source",
    "source_detail",
    "collected_at",
    "last_contact_at",
    "contract_ended_at",
    "purpose_ended_at",
    "settled_at",
}
_EVENT_KEYS = ("last_contact_at", "contract_ended_at", "purpose_ended_at", "settled_at")
_DISCLOSURE_KEYS = {"external_id", "recipient", "record", "category", "disclosed_at"}
_SOURCES = {choice.value for choice in Record.Source}
_NORMALISERS = {
    SubjectIdentifier.Kind.EMAIL.value: normalise_email,
    SubjectIdentifier.Kind.PHONE.value: normalise_phone,
    SubjectIdentifier.Kind.PERSONNUMMER.value: normalise_personnummer,
    SubjectIdentifier.Kind.CUSTOMER_NUMBER.value: normalise_customer_number,
}


class InvalidLine(Exception):
    """A line that cannot be imported; the message names the field, never its value."""


def _shown(value: object) -> str:
    """A key from the file, quoted when it looks like a key and so cannot be personal data."""
    if isinstance(value, str) and SAFE_KEY_RE.match(value):
        return repr(value)
    return "(value not shown)"


@dataclass
class _Policy:
    """One organisation's policy as the importer needs it: keys to ids."""

    organisation: Organisation
    categories: dict[str, DataCategory]
    purposes: dict[str, tuple[int, set[int]]]  # key -> (id, category ids)
    recipients: dict[str, int]
    rules: dict[tuple[int, int], int]

    @classmethod
    def load(cls, organisation: Organisation) -> _Policy:
        purposes: dict[str, tuple[int, set[int]]] = {}
        for purpose_id, key, category_id in Purpose.objects.filter(
            organisation=organisation
        ).values_list("pk", "key", "categories"):
            categories = purposes.setdefault(key, (purpose_id, set()))[1]
            if category_id is not None:
                categories.add(category_id)
        return cls(
            organisation=organisation,
            categories={c.key: c for c in DataCategory.objects.filter(organisation=organisation)},
            purposes=purposes,
            recipients=dict(organisation.recipients.values_list("key", "pk")),
            rules={
                pair: rule.pk
                for pair, rule in record_rules_for_organisation(organisation=organisation).items()
            },
        )


class _Policies:
    """Policies loaded once per organisation per import: queries do not grow with lines."""

    def __init__(self) -> None:
        self._by_slug: dict[str, _Policy | None] = {}

    def get(self, slug: str) -> _Policy | None:
        if slug not in self._by_slug:
            organisation = Organisation.objects.filter(slug=slug).first()
            self._by_slug[slug] = _Policy.load(organisation) if organisation else None
        return self._by_slug[slug]

    def by_id(self, organisation_id: int) -> Organisation | None:
        for policy in self._by_slug.values():
            if policy and policy.organisation.pk == organisation_id:
                return policy.organisation
        return None


def _mapping(value: object, where: str, allowed: set[str]) -> dict:
    if not isinstance(value, dict):
        raise InvalidLine(f"{where}: must be an object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise InvalidLine(f"{where}: unknown field {_shown(unknown[0])}")
    return value


def _text(data: dict, name: str, where: str, *, maxlen: int, required: bool = True) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise InvalidLine(f"{where}{name}: is required")
        return ""
    if not isinstance(value, str):
        raise InvalidLine(f"{where}{name}: must be a string")
    if len(value) > maxlen:
        raise InvalidLine(f"{where}{name}: is longer than {maxlen} characters")
    if "\x00" in value:
        raise InvalidLine(f"{where}{name}: contains a NUL character")
    return value


def _has_nul(value: object) -> bool:
    """PostgreSQL cannot store U+0000 in text or jsonb."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _timestamp(data: dict, name: str, where: str, *, required: bool) -> dt.datetime | None:
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidLine(f"{where}{name}: is required")
        return None
    if not isinstance(value, str):
        raise InvalidLine(f"{where}{name}: must be an ISO 8601 timestamp")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidLine(f"{where}{name}: is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidLine(f"{where}{name}: has no time zone (add Z or +01:00)")
    return parsed


def _identifiers(value: object) -> list[tuple[str, str]]:
    identifiers = _mapping(value, "identifiers", set(_NORMALISERS))
    result = []
    for kind, values in identifiers.items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InvalidLine(f"identifiers.{kind}: must be a list of strings")
        for index, raw in enumerate(values):
            try:
                normalised = _NORMALISERS[kind](raw)
            except ValidationError as exc:
                with translation.override("en"):
                    reason = " ".join(str(message) for message in exc.messages)
                raise InvalidLine(f"identifiers.{kind}[{index}]: {reason}") from None
            if len(normalised) > 254:
                raise InvalidLine(f"identifiers.{kind}[{index}]: is longer than 254 characters")
            result.append((kind, normalised))
    if not result:
        raise InvalidLine(
            "identifiers: at least one identifier is required (or the person cannot be found)"
        )
    return list(dict.fromkeys(result))


def _record(value: object, where: str, policy: _Policy) -> RecordRow:
    item = _mapping(value, where, _RECORD_KEYS)
    where += "."
    external_id = _text(item, "external_id", where, maxlen=MAX_EXTERNAL_ID)
    category = policy.categories.get(item.get("category"))
    if category is None:
        raise InvalidLine(f"{where}category: unknown category {_shown(item.get('category'))}")
    purpose = policy.purposes.get(item.get("purpose"))
    if purpose is None:
        raise InvalidLine(f"{where}purpose: unknown purpose {_shown(item.get('purpose'))}")
    purpose_id, purpose_categories = purpose
    if category.pk not in purpose_categories:
        raise InvalidLine(
            f"{where}category: {category.key!r} is not one of the categories of purpose "
            f"{item['purpose']!r}"
        )
    data = item.get("data")
    if not isinstance(data, dict):
        raise InvalidLine(f"{where}data: must be an object")
    unknown = sorted(set(data) - set(category.fields))
    if unknown:
        raise InvalidLine(
            f"{where}data: {_shown(unknown[0])} is not a field of category {category.key!r}"
        )
    if _has_nul(data):
        raise InvalidLine(f"{where}data: contains a NUL character")
    source = item.get("source")
    if source not in _SOURCES:
        raise InvalidLine(f"{where}source: must be one of {', '.join(sorted(_SOURCES))}")
    events = {name: _timestamp(item, name, where, required=False) for name in _EVENT_KEYS}
    return RecordRow(
        external_id=external_id,
        category_id=category.pk,
        purpose_id=purpose_id,
        rule_id=policy.rules.get((category.pk, purpose_id)),
        data=data,
        source=source,
        source_detail=_text(item, "source_detail", where, maxlen=200, required=False),
        collected_at=_timestamp(item, "collected_at", where, required=True),
        **events,
    )


def _disclosure(
    value: object,
    where: str,
    policy: _Policy,
    subject_external_id: str,
    records: dict[str, RecordRow],
) -> DisclosureRow:
    item = _mapping(value, where, _DISCLOSURE_KEYS)
    label, where = where, where + "."
    recipient_key = item.get("recipient")
    if recipient_key not in policy.recipients:
        raise InvalidLine(f"{where}recipient: unknown recipient {_shown(recipient_key)}")
    record = item.get("record")
    if record is not None and (not isinstance(record, str) or record not in records):
        raise InvalidLine(f"{where}record: is not the external_id of a record on this line")
    category_key = item.get("category")
    category_id = None
    if category_key is not None:
        category = policy.categories.get(category_key)
        if category is None:
            raise InvalidLine(f"{where}category: unknown category {_shown(category_key)}")
        category_id = category.pk
    if record is not None:
        if category_id is not None and category_id != records[record].category_id:
            raise InvalidLine(f"{where}category: is not the category of the record")
        category_id = records[record].category_id
    if record is None and category_id is None:
        raise InvalidLine(f"{label}: name the record or the category that was disclosed")
    disclosed_at = _timestamp(item, "disclosed_at", where, required=True)
    external_id = _text(item, "external_id", where, maxlen=MAX_EXTERNAL_ID, required=False)
    return DisclosureRow(
        external_id=external_id
        or disclosure_external_id(
            subject_external_id=subject_external_id,
            recipient_key=recipient_key,
            record_external_id=record,
            category_key=category_key if record is None else None,
            disclosed_at=disclosed_at,
        ),
        recipient_id=policy.recipients[recipient_key],
        disclosed_at=disclosed_at,
        record=record,
        category_id=category_id,
    )


def _line_parse(raw_line: str | bytes, policies: _Policies) -> SubjectRow:
    """Validate one line completely; raise `InvalidLine` with the first problem found."""
    try:
        doc = json.loads(raw_line)
    except json.JSONDecodeError as exc:
        raise InvalidLine(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except UnicodeDecodeError:
        raise InvalidLine("not valid UTF-8") from None
    doc = _mapping(doc, "line", _SUBJECT_KEYS)
    slug = doc.get("organisation")
    policy = policies.get(slug) if isinstance(slug, str) else None
    if policy is None:
        raise InvalidLine(f"organisation: unknown organisation {_shown(slug)}")
    external_id = _text(doc, "external_id", "", maxlen=MAX_EXTERNAL_ID)
    identifiers = _identifiers(doc.get("identifiers"))

    raw_records = doc.get("records", [])
    if raw_records is None:
        raw_records = []
    if not isinstance(raw_records, list):
        raise InvalidLine("records: must be a list")
    records: dict[str, RecordRow] = {}
    for index, item in enumerate(raw_records):
        record = _record(item, f"records[{index}]", policy)
        if record.external_id in records:
            raise InvalidLine(f"records[{index}].external_id: is used twice on this line")
        records[record.external_id] = record

    raw_disclosures = doc.get("disclosures", [])
    if raw_disclosures is None:
        raw_disclosures = []
    if not isinstance(raw_disclosures, list):
        raise InvalidLine("disclosures: must be a list")
    disclosures = [
        _disclosure(item, f"disclosures[{index}]", policy, external_id, records)
        for index, item in enumerate(raw_disclosures)
    ]
    return SubjectRow(
        organisation_id=policy.organisation.pk,
        external_id=external_id,
        identifiers=identifiers,
        records=list(records.values()),
        disclosures=disclosures,
    )


# --------------------------------------------------------------------------
# The import
# --------------------------------------------------------------------------


@dataclass
class ImportResult:
    lines: int = 0
    counts: WriteCounts = field(default_factory=WriteCounts)
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    organisation_ids: set[int] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.invalid


def _batches(iterator: Iterator, size: int) -> Iterator[list]:
    while batch := list(islice(iterator, size)):
        yield batch


def records_import(
    *,
    organisation_lines: Iterable[tuple[int, str | bytes]],
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import JSON Lines of data subjects; report invalid lines and import the rest.

    `organisation_lines` yields (line number, raw line as text or UTF-8
    bytes), e.g. `enumerate(open(path, "rb"), start=1)`. One line is one
    subject::

        {"organisation": "framsteget", "external_id": "cust-123",
         "identifiers": {"email": ["..."], "phone": ["..."],
                         "personnummer": ["..."], "customer_number": ["..."]},
         "records": [{"external_id": "inv-1", "category": "invoice",
                      "purpose": "billing", "data": {"invoice_number": "..."},
                      "source": "provided", "source_detail": "...",
                      "collected_at": "2025-01-31T10:00:00+01:00",
                      "last_contact_at": null, "contract_ended_at": null,
                      "purpose_ended_at": null, "settled_at": null}],
         "disclosures": [{"recipient": "print_processor", "record": "inv-1",
                          "category": null, "disclosed_at": "2025-02-01T09:00:00Z"}]}

    Blank lines are skipped. A line is imported whole or not at all.
    `progress`, if given, is called after each batch with the number of lines it had.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    result = ImportResult()
    policies = _Policies()
    completed = False
    try:
        for batch in _batches(iter(organisation_lines), batch_size):
            rows = []
            for line_no, raw_line in batch:
                if not raw_line.strip():
                    continue
                result.lines += 1
                try:
                    row = _line_parse(raw_line, policies)
                except InvalidLine as exc:
                    result.invalid.append((line_no, str(exc)))
                    continue
                row.line_no = line_no
                rows.append(row)
                result.organisation_ids.add(row.organisation_id)
            rows = without_erased(rows, result.counts)
            result.counts.add(subject_rows_write(rows=rows))
            if progress:
                progress(len(batch))
        completed = True
    finally:
        _log_import(result, policies, completed=completed)
    for organisation in Organisation.objects.filter(pk__in=result.organisation_ids):
        records_refresh(organisation=organisation)
    return result


def _log_import(result: ImportResult, policies: _Policies, *, completed: bool) -> None:
    """One audit entry per run, also for a run that failed half-way (its batches stay)."""
    organisation_ids = sorted(result.organisation_ids)
    single = policies.by_id(organisation_ids[0]) if len(organisation_ids) == 1 else None
    log_action(
        action="retention.records.imported",
        organisation=single,
        object_type="organisation" if single else "",
        object_id=single.pk if single else "",
        data={
            "organisation_ids": organisation_ids,
            "completed": completed,
            "lines": result.lines,
            "invalid_lines": len(result.invalid),
            **vars(result.counts),
        },
    )
