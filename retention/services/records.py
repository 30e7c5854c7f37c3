"""The record store's rows and their writer, shared by the import and the demo data.

- Which retention rule governs a record (`record_rule_for`, and
  `record_rules_for_organisation` for a whole policy at once).
- Validated rows (`SubjectRow`, `RecordRow`, `DisclosureRow`) and
  `subject_rows_write`, which writes a batch of them with a constant number
  of set-based statements (`INSERT ... SELECT FROM unnest(...) ON CONFLICT
  ...`) in one transaction; only rows whose values differ are written.

`import_records` (`retention/services/record_import.py`, which parses and
validates JSON Lines) and `seed_demo` (`retention/demo/`, which builds the
rows in Python) both write through `subject_rows_write`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

from django.db import connection, transaction

from retention.models import DataCategory, Organisation, Purpose, RetentionRule

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
        subject_ids, created = _subjects_write(cursor, rows)
        touched: set[int] = set()
        touched.update(_identifiers_write(cursor, rows, subject_ids, counts))
        touched.update(_records_write(cursor, rows, subject_ids, counts, update_existing))
        touched.update(_disclosures_write(cursor, rows, subject_ids, counts))

    counts.subjects_created = len(created)
    counts.subjects_updated = len(touched - created)
    counts.subjects_unchanged = len(rows) - counts.subjects_created - counts.subjects_updated
    return counts


def _subjects_write(cursor, rows: list[SubjectRow]) -> tuple[dict[tuple[int, str], int], set[int]]:
    """Insert the subjects that are missing: ({(organisation id, external id): subject id},
    the ids of the subjects created)."""
    keys = _columns([(row.organisation_id, row.external_id) for row in rows], 2)
    cursor.execute(_SUBJECTS_SQL, keys)
    found = cursor.fetchall()
    if len(found) < len(rows):
        # Another import inserted some of them after this statement began.
        cursor.execute(_SUBJECT_IDS_SQL, keys)
        found = cursor.fetchall()
    subject_ids = {(org, ext): pk for pk, org, ext, _ in found}
    created = {pk for pk, _, _, was_created in found if was_created}
    return subject_ids, created


def _identifiers_write(cursor, rows, subject_ids, counts: WriteCounts) -> list[int]:
    """Add the identifiers that are missing; the ids of the subjects that got one."""
    identifiers = [
        (row.organisation_id, subject_ids[(row.organisation_id, row.external_id)], kind, value)
        for row in rows
        for kind, value in row.identifiers
    ]
    if not identifiers:
        return []
    cursor.execute(_IDENTIFIERS_SQL, _columns(identifiers, 4))
    changed = [subject_id for (subject_id,) in cursor.fetchall()]
    counts.identifiers_created = len(changed)
    return changed


def _records_write(cursor, rows, subject_ids, counts: WriteCounts, update_existing) -> list[int]:
    """Upsert the records; the ids of the subjects whose records were created or changed."""
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
    if not records:
        return []
    on_conflict = _RECORDS_UPDATE if update_existing else "DO NOTHING"
    cursor.execute(_RECORDS_SQL.replace("{on_conflict}", on_conflict), _columns(records, 14))
    changed = cursor.fetchall()
    counts.records_created = sum(1 for _, was_created in changed if was_created)
    counts.records_updated = len(changed) - counts.records_created
    counts.records_unchanged = len(records) - len(changed)
    return [subject_id for subject_id, _ in changed]


def _disclosures_write(cursor, rows, subject_ids, counts: WriteCounts) -> list[int]:
    """Add the disclosures not stored yet; the ids of the subjects that got one."""
    disclosures = [(row, d) for row in rows for d in row.disclosures]
    if not disclosures:
        return []
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
    return changed


def _columns(rows: list[tuple], width: int) -> list[str]:
    """Rows to columns, one array literal per column: `unnest` takes one array per column."""
    if not rows:
        return ["{}"] * width
    return [array_literal(column) for column in zip(*rows, strict=True)]


def array_literal(values) -> str:
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
