"""What an access reply (Art. 15) and a portability export (Art. 20) contain.

`access_content` gathers, per data category, everything Art. 15(1)(a)-(h)
and 15(3) require: the data itself, the purposes, the legal basis, the
recipients (and any third country), the retention period or its criteria,
the source when it was not the person, the rights to rectification,
erasure, restriction and objection, the right to complain to IMY, and
whether there is automated decision-making. A fixed number of queries,
whatever the number of records.

`portability_content` holds only data the person provided or that was
observed from their use of the service, processed on consent or contract.

For files of any size, `access_overview` (everything but the records, from
set-based queries) and the iterators `access_records` / `portability_records`
(a server-side cursor) let a caller stream the reply with bounded memory;
`access_content` and `portability_content` are built from them.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db.models import Count, F, Func
from django.utils import timezone, translation

from retention.field_labels import field_label
from retention.models import (
    DataCategory,
    Disclosure,
    LegalBasis,
    Organisation,
    Purpose,
    Record,
    RetentionRule,
)

# fmt: off
EEA = {
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
    "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
}
# fmt: on

PORTABILITY_SCHEMA_VERSION = "1"
PORTABLE_SOURCES = (Record.Source.PROVIDED, Record.Source.OBSERVED)
PORTABLE_BASES = (LegalBasis.CONSENT, LegalBasis.CONTRACT)
# The restriction ground of records erasure had to keep (retention.services.erasure).
ERASURE_EXCEPTION = "erasure_exception"

RIGHTS = {
    "sv": [
        ("rectification", "Du har rätt att få felaktiga uppgifter rättade (art. 16)."),
        ("erasure", "Du har rätt att få uppgifter raderade i de fall som anges i art. 17."),
        ("restriction", "Du har rätt att begära att behandlingen begränsas (art. 18)."),
        ("objection", "Du har rätt att invända mot behandling (art. 21), alltid mot direktreklam."),
        ("portability", "Du har rätt till dataportabilitet för uppgifter du lämnat (art. 20)."),
    ],
    "en": [
        ("rectification", "You have the right to have inaccurate data corrected (Art. 16)."),
        ("erasure", "You have the right to erasure in the cases set out in Art. 17."),
        ("restriction", "You have the right to restriction of processing (Art. 18)."),
        ("objection", "You have the right to object (Art. 21), always to direct marketing."),
        ("portability", "You have the right to data portability for data you provided (Art. 20)."),
    ],
}


def _name(obj, language: str) -> str:
    return getattr(obj, f"name_{language}", None) or obj.name_sv


def retention_text(rule, language: str) -> str:
    """The retention period, or the criteria for it, in words."""
    if rule is None:
        return ""
    if rule.action == "keep" or rule.period_value is None:
        base = (
            "Sparas så länge relationen varar"
            if language == "sv"
            else "Kept while the relationship lasts"
        )
        return f"{base}. {rule.reading}".strip()
    units = {
        "sv": {"days": "dagar", "weeks": "veckor", "months": "månader", "years": "år"},
        "en": {"days": "days", "weeks": "weeks", "months": "months", "years": "years"},
    }[language]
    start = rule.get_start_event_display()
    if language == "sv":
        text = f"{rule.period_value} {units[rule.period_unit]} räknat från {start}"
        if rule.end_of_calendar_year:
            text += " (från utgången av det kalenderåret)"
        elif rule.end_of_financial_year:
            text += " (från utgången av det kalenderår då räkenskapsåret avslutades)"
    else:
        text = f"{rule.period_value} {units[rule.period_unit]} counted from {start}"
        if rule.end_of_calendar_year:
            text += " (from the end of that calendar year)"
        elif rule.end_of_financial_year:
            text += " (from the end of the calendar year in which that financial year ended)"
    return text


def field_labels(keys: Iterable[str], language: str) -> dict[str, str]:
    """The readable label of each field key, in `language` (`retention.field_labels`)."""
    with translation.override(language):
        return {key: field_label(key) for key in keys}


def _subject_records(organisation: Organisation, subject_ids: list[int], categories=None):
    records = Record.objects.filter(organisation=organisation, subject_id__in=subject_ids)
    if categories:
        records = records.filter(category__key__in=list(categories))
    return records


def access_overview(
    *,
    organisation: Organisation,
    subject_ids: list[int],
    language: str = "sv",
    categories: list[str] | None = None,
) -> dict:
    """The access reply without the records themselves (see `access_records`).

    Per category: the number of records, the purposes and their legal basis,
    the recipients (and third countries), the retention periods, the sources
    other than the person. Set-based: a fixed number of queries, and memory
    that grows with the policy, not with the number of records. `categories`
    limits the reply to the categories the person asked about.
    """
    records = _subject_records(organisation, subject_ids, categories)
    facts = _overview_facts(organisation, subject_ids, records, language)
    result = [
        _category_overview(category, facts, language)
        for category in DataCategory.objects.filter(pk__in=list(facts.counts)).order_by("key")
    ]
    return _overview_reply(organisation, language, facts.counts, result)


@dataclass
class _OverviewFacts:
    """What the person's records hold, by category id, read with a fixed number of queries."""

    counts: dict
    purpose_pairs: set
    rule_pairs: set
    source_rows: set
    purposes: dict
    rules: dict
    data_keys: dict
    disclosed: dict


def _overview_facts(organisation, subject_ids, records, language: str) -> _OverviewFacts:
    counts = dict(
        records.order_by()
        .values("category_id")
        .annotate(n=Count("id"))
        .values_list("category_id", "n")
    )
    purpose_pairs = set(records.order_by().values_list("category_id", "purpose_id").distinct())
    rule_pairs = set(
        records.order_by().exclude(rule=None).values_list("category_id", "rule_id").distinct()
    )
    source_rows = set(
        records.order_by()
        .exclude(source=Record.Source.PROVIDED)
        .values_list("category_id", "source", "source_detail")
        .distinct()
    )
    purposes = {
        p.pk: p
        for p in Purpose.objects.filter(organisation=organisation).prefetch_related("recipients")
    }
    rules = {r.pk: r for r in RetentionRule.objects.filter(organisation=organisation)}
    # The keys the person's records hold, per category, for their labels (one query).
    data_keys = defaultdict(set)
    for category_id, key in (
        records.order_by()
        .annotate(
            key=Func(
                F("data"),
                template="jsonb_object_keys(CASE WHEN jsonb_typeof(%(expressions)s) = 'object' "
                "THEN %(expressions)s ELSE '{}'::jsonb END)",
            )
        )
        .values_list("category_id", "key")
        .distinct()
    ):
        data_keys[category_id].add(key)
    disclosed = defaultdict(set)
    disclosures = Disclosure.objects.filter(organisation=organisation, subject_id__in=subject_ids)
    for category_id, name_sv, name_en, country in disclosures.values_list(
        "category_id", "recipient__name_sv", "recipient__name_en", "recipient__country"
    ).distinct():
        disclosed[category_id].add((name_en if language == "en" else name_sv, country))

    return _OverviewFacts(
        counts=counts,
        purpose_pairs=purpose_pairs,
        rule_pairs=rule_pairs,
        source_rows=source_rows,
        purposes=purposes,
        rules=rules,
        data_keys=data_keys,
        disclosed=disclosed,
    )


def _category_overview(category: DataCategory, facts: _OverviewFacts, language: str) -> dict:
    """One category of the overview: purposes, recipients, retention, sources, labels."""
    rules = facts.rules
    entry_purposes, entry_recipients = _category_purposes(category, facts, language)
    retention = [
        retention_text(rules[r], language)
        for r in sorted(
            (r for c, r in facts.rule_pairs if c == category.pk), key=lambda r: rules[r].key
        )
    ]
    return {
        "key": category.key,
        "name": _name(category, language),
        "special_category": category.special,
        "record_count": facts.counts[category.pk],
        "purposes": entry_purposes,
        "recipients": entry_recipients,
        "retention": retention,
        "sources": [
            {"source": source, "detail": detail}
            for c, source, detail in sorted(facts.source_rows)
            if c == category.pk
        ],
        "field_labels": field_labels(
            sorted(set(category.fields or []) | facts.data_keys[category.pk]), language
        ),
    }


def _category_purposes(
    category: DataCategory, facts: _OverviewFacts, language: str
) -> tuple[list[dict], list[dict]]:
    """The category's purposes, and its recipients: the purposes' and those disclosed to."""
    entry_purposes, entry_recipients = {}, {}
    for purpose in sorted(
        (facts.purposes[p] for c, p in facts.purpose_pairs if c == category.pk),
        key=lambda p: p.key,
    ):
        entry_purposes[purpose.key] = {
            "key": purpose.key,
            "name": _name(purpose, language),
            "description": getattr(purpose, f"description_{language}") or purpose.description_sv,
            "legal_basis": purpose.legal_basis,
            "legal_basis_text": str(purpose.get_legal_basis_display()),
            "direct_marketing": purpose.direct_marketing,
        }
        for recipient in purpose.recipients.all():
            entry_recipients[recipient.key] = {
                "name": _name(recipient, language),
                "kind": recipient.kind,
                "country": recipient.country,
                "third_country": recipient.country not in EEA,
            }
    for name, country in sorted(facts.disclosed.get(category.pk, ())):
        entry_recipients.setdefault(
            f"disclosed:{name}",
            {
                "name": name,
                "kind": "disclosed",
                "country": country,
                "third_country": country not in EEA,
            },
        )
    return list(entry_purposes.values()), list(entry_recipients.values())


def _overview_reply(organisation: Organisation, language: str, counts: dict, result: list) -> dict:
    """The reply around the categories: the organisation, the rights, where to complain."""
    policy = (organisation.policy or {}).get("organisation") or {}
    total = sum(counts.values())
    return {
        "organisation": {
            "name": organisation.legal_name,
            "org_number": organisation.org_number,
            "contact_email": organisation.contact_email,
            "postal_address": organisation.postal_address,
            "dpo": {"name": organisation.dpo_name, "email": organisation.dpo_email},
        },
        "generated_at": timezone.now().isoformat(),
        "language": language,
        "processes_data": total > 0,
        "record_count": total,
        "third_country_transfers": policy.get("third_country_transfers") or [],
        "automated_decision_making": policy.get("automated_decision_making"),
        "rights": [{"right": key, "text": text} for key, text in RIGHTS[language]],
        "complaint": {
            "authority": organisation.supervisory_authority_name,
            "url": organisation.supervisory_authority_url,
            "email": organisation.supervisory_authority_email,
        },
        "categories": result,
    }


def access_records(
    *,
    organisation: Organisation,
    subject_ids: list[int],
    categories: list[str] | None = None,
    chunk_size: int = 2000,
) -> Iterator[dict]:
    """The records of an access reply in category order, streamed (a server-side cursor).

    Each is `{"category", "id", "data", "purpose", "source", "collected_at", "restricted"}`.
    """
    rows = (
        _subject_records(organisation, subject_ids, categories)
        .order_by("category__key", "collected_at", "pk")
        .values_list(
            "category__key",
            "pk",
            "data",
            "purpose__key",
            "source",
            "collected_at",
            "restricted_at",
        )
    )
    for category, pk, data, purpose, source, collected_at, restricted_at in rows.iterator(
        chunk_size=chunk_size
    ):
        yield {
            "category": category,
            "id": pk,
            "data": data,
            "purpose": purpose,
            "source": source,
            "collected_at": collected_at.isoformat(),
            "restricted": restricted_at is not None,
        }


def access_content(
    *, organisation: Organisation, subject_ids: list[int], language: str = "sv"
) -> dict:
    """The whole access reply in memory: `access_overview` with each category's records."""
    content = access_overview(organisation=organisation, subject_ids=subject_ids, language=language)
    by_key = {c["key"]: c for c in content["categories"]}
    for entry in by_key.values():
        entry["records"] = []
    for record in access_records(organisation=organisation, subject_ids=subject_ids):
        by_key[record.pop("category")]["records"].append(record)
    return content


def portability_records(
    *, organisation: Organisation, subject_ids: list[int], chunk_size: int = 2000
) -> Iterator[dict]:
    """What Art. 20 covers, streamed: data the person provided or that was observed from
    their use of the service, processed on consent or contract.

    Records kept only because erasure was refused under a legal obligation or a
    hold (`restriction_ground = "erasure_exception"`) are no longer processed on
    consent or contract, so they are left out.
    """
    rows = (
        Record.objects.filter(
            organisation=organisation,
            subject_id__in=subject_ids,
            source__in=PORTABLE_SOURCES,
            purpose__legal_basis__in=PORTABLE_BASES,
        )
        .exclude(restriction_ground=ERASURE_EXCEPTION)
        .order_by("category__key", "pk")
        .values_list("category__key", "purpose__key", "source", "collected_at", "data")
    )
    for category, purpose, source, collected_at, data in rows.iterator(chunk_size=chunk_size):
        yield {
            "category": category,
            "purpose": purpose,
            "source": source,
            "collected_at": collected_at.isoformat(),
            "data": data,
        }


def portability_content(*, organisation: Organisation, subject_ids: list[int]) -> dict:
    return {
        "schema": "https://dsr-portal.example/schemas/portability-v1.json",
        "schema_version": PORTABILITY_SCHEMA_VERSION,
        "organisation": organisation.legal_name,
        "generated_at": timezone.now().isoformat(),
        "records": list(portability_records(organisation=organisation, subject_ids=subject_ids)),
    }


def csv_cell(value) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


PORTABILITY_CSV_COLUMNS = ["category", "purpose", "source", "collected_at", "field", "value"]


def portability_csv_rows(records: Iterable[dict]) -> Iterator[list[str]]:
    """One row per field: category, purpose, source, collected_at, field, value."""
    for record in records:
        for field, value in sorted(record["data"].items()):
            yield [
                record["category"],
                record["purpose"],
                record["source"],
                record["collected_at"],
                field,
                csv_cell(value),
            ]


def portability_csv(content: dict) -> str:
    """The CSV of `portability_content`, with a header row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(PORTABILITY_CSV_COLUMNS)
    writer.writerows(portability_csv_rows(content["records"]))
    return out.getvalue()
