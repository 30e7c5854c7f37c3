"""Erased subjects stay erased: what an import may not bring back.

A subject whose external id, e-mail, personnummer or customer number matches
an `ErasureTombstone` of the organisation (`retention.services.erasure`) gets
none of its records collected at or before the erasure, nor its disclosures
given by then; a partial erasure only blocks its categories. One query per
batch, whatever its size.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection

from retention.services.erasure import TOMBSTONE_KINDS, tombstone_hash_candidates
from retention.services.records import SubjectRow, WriteCounts, array_literal

_TOMBSTONES_SQL = """
SELECT t.organisation_id, h.hash, t.erased_at, t.category_ids
  FROM retention_erasuretombstone t
 CROSS JOIN LATERAL unnest(t.identifier_hashes) AS h(hash)
 WHERE t.identifier_hashes && %(hashes)s::varchar[]
   AND t.organisation_id = ANY(%(organisations)s::bigint[])
   AND h.hash = ANY(%(hashes)s::varchar[])
"""


def without_erased(rows: list[SubjectRow], counts: WriteCounts) -> list[SubjectRow]:
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
                "hashes": array_literal(sorted(set().union(*line_hashes))),
                "organisations": array_literal(sorted({row.organisation_id for row in rows})),
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
