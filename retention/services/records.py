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

`seed_demo` (`retention/demo/`) builds the same validated rows in
Python and writes them with `subject_rows_write`, so both share one writer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import translation

from retention.audit import log_action
from retention.identifiers import (
    normalise_customer_number,
    normalise_email,
    normalise_personnummer,
    normalise_phone,
)
from retention.models import (
    DataCategory,
    Organisation,
    Purpose,
    Record,
    RetentionRule,
    SubjectIdentifier,
)
from retention.services.erasure import TOMBSTONE_KINDS, tombstone_hash_candidates
from retention.services.expiry import records_refresh

# --------------------------------------------------------------------------
# Which retention rule governs a record
# --------------------------------------------------------------------------


def record_rule_for(*, category: DataCategory, purpose: Purpose) -> RetentionRule:
    """The rule that governs a record of `category` kept for `purpose`.

    A rule that names the category in `applies_to` wins over the purpose's
    rule, whatever the purpose (FRAMSTEGET keeps IP addresses three weeks
    whichever purpose collected them). When several rules name the category,
    the purpose's own rule is preferred, else the first by key. Otherwise the
    purpose's `retention_rule` applies.
    """
    candidates = list(
        RetentionRule.objects.filter(
            organisation_id=category.organisation_id, applies_to_categories=category
        ).order_by("key")
    )
    return _pick_rule(candidates, purpose.retention_rule_id) or purpose.retention_rule


def record_rules_for_organisation(
    *, organisation: Organisation
) -> dict[tuple[int, int], RetentionRule]:
    """`record_rule_for` for every (category id, purpose id) pair the policy allows.

    Four queries, whatever the size of the policy: the rules, which rules
    name which categories, and which purposes cover which categories.
    """
    rules = {rule.pk: rule for rule in RetentionRule.objects.filter(organisation=organisation)}
    by_category: dict[int, list[RetentionRule]] = {}
    applies = RetentionRule.applies_to_categories.through.objects.filter(
        retentionrule__organisation=organisation
    ).values_list("datacategory_id", "retentionrule_id")
    for category_id, rule_id in applies:
        by_category.setdefault(category_id, []).append(rules[rule_id])
    purpose_rules = dict(
        Purpose.objects.filter(organisation=organisation).values_list("pk", "retention_rule_id")
    )
    pairs = Purpose.categories.through.objects.filter(
        purpose__organisation=organisation
    ).values_list("datacategory_id", "purpose_id")
    result = {}
    for category_id, purpose_id in pairs:
        candidates = sorted(by_category.get(category_id, []), key=lambda rule: rule.key)
        rule = _pick_rule(candidates, purpose_rules[purpose_id])
        result[(category_id, purpose_id)] = rule or rules[purpose_rules[purpose_id]]
    return result


def _pick_rule(candidates: list[RetentionRule], purpose_rule_id: int) -> RetentionRule | None:
    for rule in candidates:
        if rule.pk == purpose_rule_id:
            return rule
    return candidates[0] if candidates else None


# --------------------------------------------------------------------------
# Validated rows, shared by the import and the demo data
# --------------------------------------------------------------------------


@dataclass(slots=True)
class RecordRow:
    external_id: str
    category_id: int
    purpose_id: int
    rule_id: int | None
    data: dict
    source: str
    collected_at: dt.datetime
    source_detail: str = ""
    last_contact_at: dt.datetime | None = None
    contract_ended_at: dt.datetime | None = None
    purpose_ended_at: dt.datetime | None = None
    settled_at: dt.datetime | None = None


@dataclass(slots=True)
class DisclosureRow:
    external_id: str
    recipient_id: int
    disclosed_at: dt.datetime
    # The record's external id (a record of the same subject), or None.
    record: str | None = None
    category_id: int | None = None


@dataclass(slots=True)
class SubjectRow:
    """One data subject with everything to write for it, already validated."""

    organisation_id: int
    external_id: str
    identifiers: list[tuple[str, str]] = field(default_factory=list)  # (kind, normalised value)
    records: list[RecordRow] = field(default_factory=list)
    disclosures: list[DisclosureRow] = field(default_factory=list)
    line_no: int | None = None


@dataclass
class WriteCounts:
    subjects_created: int = 0
    subjects_updated: int = 0
    subjects_unchanged: int = 0
    identifiers_created: int = 0
    records_created: int = 0
    records_updated: int = 0
    records_unchanged: int = 0
    disclosures_created: int = 0
    disclosures_unchanged: int = 0
    subjects_skipped_erased: int = 0
    records_skipped_erased: int = 0
    disclosures_skipped_erased: int = 0

    def add(self, other: WriteCounts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def disclosure_external_id(
    *,
    subject_external_id: str,
    recipient_key: str,
    record_external_id: str | None,
    category_key: str | None,
    disclosed_at: dt.datetime,
) -> str:
    """A stable id for a disclosure the organisation gave none: the same facts, the same id."""
    canonical = json.dumps(
        [
            subject_external_id,
            recipient_key,
            record_external_id,
            category_key,
            disclosed_at.astimezone(dt.UTC).isoformat(),
        ]
    )
    return "auto-" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


# --------------------------------------------------------------------------
# The writer: a constant number of statements per batch
# --------------------------------------------------------------------------

_SUBJECTS_SQL = """
WITH input AS (
    SELECT * FROM unnest(%s::bigint[], %s::text[]) AS t(organisation_id, external_id)
), inserted AS (
    INSERT INTO retention_datasubject
        (organisation_id, external_id, supplementary_statement, created_at, updated_at)
    SELECT organisation_id, external_id, '', now(), now() FROM input
    ON CONFLICT (organisation_id, external_id) DO NOTHING
    RETURNING id, organisation_id, external_id
)
SELECT id, organisation_id, external_id, true FROM inserted
UNION ALL
SELECT s.id, s.organisation_id, s.external_id, false
FROM retention_datasubject s JOIN input USING (organisation_id, external_id)
"""

_SUBJECT_IDS_SQL = """
SELECT s.id, s.organisation_id, s.external_id, false
FROM retention_datasubject s
JOIN unnest(%s::bigint[], %s::text[]) AS t(organisation_id, external_id)
    USING (organisation_id, external_id)
"""

_IDENTIFIERS_SQL = """
INSERT INTO retention_subjectidentifier (organisation_id, subject_id, kind, value)
SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[])
ON CONFLICT (subject_id, kind, value) DO NOTHING
RETURNING subject_id
"""

_RECORD_COLUMNS = (
    "subject_id",
    "category_id",
    "purpose_id",
    "rule_id",
    "data",
    "source",
    "source_detail",
    "collected_at",
    "last_contact_at",
    "contract_ended_at",
    "purpose_ended_at",
    "settled_at",
)

_RECORDS_SQL = """
INSERT INTO retention_record (
    organisation_id, external_id, {columns},
    restriction_ground, created_at, updated_at
)
SELECT
    organisation_id, external_id, subject_id, category_id, purpose_id, rule_id, data::jsonb,
    source, source_detail, collected_at, last_contact_at, contract_ended_at,
    purpose_ended_at, settled_at, '', now(), now()
FROM unnest(
    %s::bigint[], %s::text[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::text[],
    %s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[], %s::timestamptz[],
    %s::timestamptz[], %s::timestamptz[]
) AS t(organisation_id, external_id, {columns})
ON CONFLICT (organisation_id, external_id) {on_conflict}
RETURNING subject_id, (xmax = 0) AS created
""".replace("{columns}", ", ".join(_RECORD_COLUMNS))

# Only a row whose values differ is written. A record that an erasure or a
# sweep has already worked on is never overwritten: anonymised, restricted,
# or reduced to the fields an overriding rule keeps (its rule is then that
# overriding rule, e.g. bookkeeping).
_RECORDS_UPDATE = (  # noqa: S608 - column names are constants, values are parameters
    "DO UPDATE SET {assignments}, updated_at = now() "
    "WHERE ({current}) IS DISTINCT FROM ({new}) "
    "AND retention_record.anonymised_at IS NULL "
    "AND retention_record.restricted_at IS NULL "
    "AND NOT EXISTS (SELECT 1 FROM retention_retentionrule_overrides x "
    "WHERE x.from_retentionrule_id = retention_record.rule_id)"
).format(
    assignments=", ".join(f"{c} = EXCLUDED.{c}" for c in _RECORD_COLUMNS),
    current=", ".join(f"retention_record.{c}" for c in _RECORD_COLUMNS),
    new=", ".join(f"EXCLUDED.{c}" for c in _RECORD_COLUMNS),
)

_RECORD_IDS_SQL = """
SELECT r.id, r.organisation_id, r.external_id, r.subject_id, r.category_id
FROM retention_record r
JOIN unnest(%s::bigint[], %s::text[]) AS t(organisation_id, external_id)
    USING (organisation_id, external_id)
"""

# A disclosure is a fact of the past: one already stored (unique on organisation and
# external id, `disclosure_external_id_unique`) is left as it is. Two imports of the
# same disclosure at once: the second waits for the first and then skips it.
_DISCLOSURES_SQL = """
INSERT INTO retention_disclosure
    (organisation_id, external_id, recipient_id, subject_id, record_id, category_id, disclosed_at)
SELECT * FROM unnest(
    %s::bigint[], %s::text[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[],
    %s::timestamptz[]
) AS t(organisation_id, external_id, recipient_id, subject_id, record_id, category_id,
       disclosed_at)
ON CONFLICT (organisation_id, external_id) WHERE external_id <> '' DO NOTHING
RETURNING subject_id
"""


def _merge(rows: list[SubjectRow]) -> list[SubjectRow]:
    """One row per subject and one record per record id: later lines win."""
    subjects: dict[tuple[int, str], SubjectRow] = {}
    record_owner: dict[tuple[int, str], SubjectRow] = {}
    for row in rows:
        merged = subjects.get((row.organisation_id, row.external_id))
        if merged is None:
            merged = subjects[(row.organisation_id, row.external_id)] = SubjectRow(
                organisation_id=row.organisation_id, external_id=row.external_id
            )
        merged.identifiers.extend(row.identifiers)
        for record in row.records:
            key = (row.organisation_id, record.external_id)
            previous = record_owner.get(key)
            if previous is not None:
                previous.records = [r for r in previous.records if r.external_id != key[1]]
            merged.records.append(record)
            record_owner[key] = merged
        merged.disclosures.extend(row.disclosures)
    for merged in subjects.values():
        merged.identifiers = list(dict.fromkeys(merged.identifiers))
    return list(subjects.values())


def subject_rows_write(*, rows: list[SubjectRow], update_existing: bool = True) -> WriteCounts:
    """Write one batch of validated subjects in one transaction; return what changed.

    With `update_existing=False` existing records are left exactly as they
    are (`seed_demo` adds only what is missing).
    """
    rows = _merge(rows)
    counts = WriteCounts()
    if not rows:
        return counts
    with transaction.atomic(), connection.cursor() as cursor:
        keys = _columns([(row.organisation_id, row.external_id) for row in rows], 2)
        cursor.execute(_SUBJECTS_SQL, keys)
        found = cursor.fetchall()
        if len(found) < len(rows):
            # Another import inserted some of them after this statement began.
            cursor.execute(_SUBJECT_IDS_SQL, keys)
            found = cursor.fetchall()
        subject_ids = {(org, ext): pk for pk, org, ext, _ in found}
        created = {pk for pk, _, _, was_created in found if was_created}
        touched: set[int] = set()

        identifiers = [
            (row.organisation_id, subject_ids[(row.organisation_id, row.external_id)], kind, value)
            for row in rows
            for kind, value in row.identifiers
        ]
        if identifiers:
            cursor.execute(_IDENTIFIERS_SQL, _columns(identifiers, 4))
            changed = [subject_id for (subject_id,) in cursor.fetchall()]
            counts.identifiers_created = len(changed)
            touched.update(changed)

        records = [
            (
                row.organisation_id,
                r.external_id,
                subject_ids[(row.organisation_id, row.external_id)],
                r.category_id,
                r.purpose_id,
                r.rule_id,
                json.dumps(r.data, ensure_ascii=False),
                r.source,
                r.source_detail,
                r.collected_at,
                r.last_contact_at,
                r.contract_ended_at,
                r.purpose_ended_at,
                r.settled_at,
            )
            for row in rows
            for r in row.records
        ]
        if records:
            on_conflict = _RECORDS_UPDATE if update_existing else "DO NOTHING"
            cursor.execute(
                _RECORDS_SQL.replace("{on_conflict}", on_conflict), _columns(records, 14)
            )
            changed = cursor.fetchall()
            counts.records_created = sum(1 for _, was_created in changed if was_created)
            counts.records_updated = len(changed) - counts.records_created
            counts.records_unchanged = len(records) - len(changed)
            touched.update(subject_id for subject_id, _ in changed)

        disclosures = [(row, d) for row in rows for d in row.disclosures]
        if disclosures:
            refs = {(row.organisation_id, d.record) for row, d in disclosures if d.record}
            record_ids = {}
            if refs:
                cursor.execute(_RECORD_IDS_SQL, _columns(sorted(refs), 2))
                record_ids = {(org, ext): pk for pk, org, ext, _, _ in cursor.fetchall()}
            unique = {
                (row.organisation_id, d.external_id): (
                    row.organisation_id,
                    d.external_id,
                    d.recipient_id,
                    subject_ids[(row.organisation_id, row.external_id)],
                    record_ids.get((row.organisation_id, d.record)) if d.record else None,
                    d.category_id,
                    d.disclosed_at,
                )
                for row, d in disclosures
            }
            cursor.execute(_DISCLOSURES_SQL, _columns(list(unique.values()), 7))
            changed = [subject_id for (subject_id,) in cursor.fetchall()]
            counts.disclosures_created = len(changed)
            counts.disclosures_unchanged = len(unique) - len(changed)
            touched.update(changed)

    counts.subjects_created = len(created)
    counts.subjects_updated = len(touched - created)
    counts.subjects_unchanged = len(rows) - counts.subjects_created - counts.subjects_updated
    return counts


def _columns(rows: list[tuple], width: int) -> list[str]:
    """Rows to columns, one array literal per column: `unnest` takes one array per column."""
    if not rows:
        return ["{}"] * width
    return [_array(column) for column in zip(*rows, strict=True)]


def _array(values) -> str:
    """A PostgreSQL array literal, sent as one text parameter.

    Adapting one Python value at a time costs the driver microseconds each;
    one literal per column makes a 10,000-row batch several times faster.
    """
    parts = []
    for value in values:
        if value is None:
            parts.append("NULL")
        elif isinstance(value, int):
            parts.append(str(value))
        elif isinstance(value, dt.datetime):
            parts.append(f'"{value.isoformat()}"')
        else:
            parts.append('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(parts) + "}"


# --------------------------------------------------------------------------
# Parsing and validating a line
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
            rows = _without_erased(rows, result.counts)
            result.counts.add(subject_rows_write(rows=rows))
            if progress:
                progress(len(batch))
        completed = True
    finally:
        _log_import(result, policies, completed=completed)
    for organisation in Organisation.objects.filter(pk__in=result.organisation_ids):
        records_refresh(organisation=organisation)
    return result


_TOMBSTONES_SQL = """
SELECT t.organisation_id, h.hash, t.erased_at, t.category_ids
  FROM retention_erasuretombstone t
 CROSS JOIN LATERAL unnest(t.identifier_hashes) AS h(hash)
 WHERE t.identifier_hashes && %(hashes)s::varchar[]
   AND t.organisation_id = ANY(%(organisations)s::bigint[])
   AND h.hash = ANY(%(hashes)s::varchar[])
"""


def _without_erased(rows: list[SubjectRow], counts: WriteCounts) -> list[SubjectRow]:
    """The batch without what erased subjects' tombstones refuse; one query, counted in `counts`.

    A record is refused when a tombstone matching the line (any of its
    identifiers) was written at or after its `collected_at` and covers its
    category; a disclosure likewise by `disclosed_at`. A line left with
    nothing to import after a full erasure is dropped, identifiers included.
    """
    if not rows:
        return rows
    # Each identifier's hash under every tombstone key (a rotated key still refuses).
    line_hashes = []
    for row in rows:
        hashes = set(tombstone_hash_candidates(kind="external_id", value=row.external_id))
        for kind, value in row.identifiers:
            if kind in TOMBSTONE_KINDS:
                hashes.update(tombstone_hash_candidates(kind=kind, value=value))
        line_hashes.append(hashes)
    with connection.cursor() as cursor:
        cursor.execute(
            _TOMBSTONES_SQL,
            {
                "hashes": _array(sorted(set().union(*line_hashes))),
                "organisations": _array(sorted({row.organisation_id for row in rows})),
            },
        )
        found: dict[tuple[int, str], list[tuple[dt.datetime, set[int]]]] = {}
        for organisation_id, value_hash, erased_at, category_ids in cursor.fetchall():
            found.setdefault((organisation_id, value_hash), []).append(
                (erased_at, set(category_ids))
            )
    if not found:
        return rows
    kept = []
    for row, hashes in zip(rows, line_hashes, strict=True):
        tombstones = [t for h in hashes for t in found.get((row.organisation_id, h), [])]
        if not tombstones:
            kept.append(row)
            continue
        records = [r for r in row.records if not _erased(tombstones, r.collected_at, r.category_id)]
        disclosures = [
            d for d in row.disclosures if not _erased(tombstones, d.disclosed_at, d.category_id)
        ]
        counts.records_skipped_erased += len(row.records) - len(records)
        counts.disclosures_skipped_erased += len(row.disclosures) - len(disclosures)
        fully_erased = any(not categories for _, categories in tombstones)
        if fully_erased and not records and not disclosures:
            counts.subjects_skipped_erased += 1
            continue
        row.records, row.disclosures = records, disclosures
        kept.append(row)
    return kept


def _erased(
    tombstones: list[tuple[dt.datetime, set[int]]], at: dt.datetime, category_id: int | None
) -> bool:
    """Whether one of the tombstones was written at or after `at` and covers the category."""
    return any(
        at <= erased_at and (not categories or category_id in categories)
        for erased_at, categories in tombstones
    )


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
