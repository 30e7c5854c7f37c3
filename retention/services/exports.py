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
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict

from django.utils import timezone

from retention.models import (
    Disclosure,
    LegalBasis,
    Organisation,
    Purpose,
    Record,
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
    else:
        text = f"{rule.period_value} {units[rule.period_unit]} counted from {start}"
        if rule.end_of_calendar_year:
            text += " (from the end of that calendar year)"
    return text


def access_content(
    *, organisation: Organisation, subject_ids: list[int], language: str = "sv"
) -> dict:
    records = list(
        Record.objects.filter(organisation=organisation, subject_id__in=subject_ids)
        .select_related("category", "purpose", "rule")
        .order_by("category__key", "collected_at", "pk")
    )
    purposes = {
        p.pk: p
        for p in Purpose.objects.filter(organisation=organisation).prefetch_related(
            "recipients", "categories"
        )
    }
    disclosed = defaultdict(set)
    for category_id, name_sv, name_en, country in Disclosure.objects.filter(
        organisation=organisation, subject_id__in=subject_ids
    ).values_list("category_id", "recipient__name_sv", "recipient__name_en", "recipient__country"):
        disclosed[category_id].add((name_en if language == "en" else name_sv, country))

    by_category: dict = {}
    for record in records:
        category = record.category
        entry = by_category.setdefault(
            category.pk,
            {
                "key": category.key,
                "name": _name(category, language),
                "special_category": category.special,
                "records": [],
                "purposes": {},
                "recipients": {},
                "retention": {},
                "sources": set(),
            },
        )
        purpose = purposes[record.purpose_id]
        entry["records"].append(
            {
                "id": record.pk,
                "data": record.data,
                "purpose": purpose.key,
                "source": record.source,
                "collected_at": record.collected_at.isoformat(),
                "restricted": record.restricted_at is not None,
            }
        )
        entry["purposes"][purpose.key] = {
            "name": _name(purpose, language),
            "description": getattr(purpose, f"description_{language}") or purpose.description_sv,
            "legal_basis": purpose.legal_basis,
            "legal_basis_text": str(purpose.get_legal_basis_display()),
            "direct_marketing": purpose.direct_marketing,
        }
        for recipient in purpose.recipients.all():
            entry["recipients"][recipient.key] = {
                "name": _name(recipient, language),
                "kind": recipient.kind,
                "country": recipient.country,
                "third_country": recipient.country not in EEA,
            }
        if record.rule is not None:
            entry["retention"][record.rule.key] = retention_text(record.rule, language)
        if record.source != Record.Source.PROVIDED:
            entry["sources"].add((record.source, record.source_detail))
    categories = []
    for category_id, entry in by_category.items():
        for name, country in sorted(disclosed.get(category_id, ())):
            entry["recipients"].setdefault(
                f"disclosed:{name}",
                {
                    "name": name,
                    "kind": "disclosed",
                    "country": country,
                    "third_country": country not in EEA,
                },
            )
        entry["purposes"] = list(entry["purposes"].values())
        entry["recipients"] = list(entry["recipients"].values())
        entry["retention"] = list(entry["retention"].values())
        entry["sources"] = [
            {"source": source, "detail": detail} for source, detail in sorted(entry["sources"])
        ]
        categories.append(entry)
    policy = organisation.policy or {}
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
        "processes_data": bool(records),
        "record_count": len(records),
        "categories": categories,
        "third_country_transfers": (policy.get("organisation") or {}).get("third_country_transfers")
        or [],
        "automated_decision_making": (policy.get("organisation") or {}).get(
            "automated_decision_making"
        ),
        "rights": [{"right": key, "text": text} for key, text in RIGHTS[language]],
        "complaint": {
            "authority": organisation.supervisory_authority_name,
            "url": organisation.supervisory_authority_url,
            "email": organisation.supervisory_authority_email,
        },
    }


def portability_content(*, organisation: Organisation, subject_ids: list[int]) -> dict:
    records = (
        Record.objects.filter(
            organisation=organisation,
            subject_id__in=subject_ids,
            source__in=PORTABLE_SOURCES,
            purpose__legal_basis__in=PORTABLE_BASES,
        )
        .select_related("category", "purpose")
        .order_by("category__key", "pk")
    )
    return {
        "schema": "https://dsr-portal.example/schemas/portability-v1.json",
        "schema_version": PORTABILITY_SCHEMA_VERSION,
        "organisation": organisation.legal_name,
        "generated_at": timezone.now().isoformat(),
        "records": [
            {
                "category": r.category.key,
                "purpose": r.purpose.key,
                "source": r.source,
                "collected_at": r.collected_at.isoformat(),
                "data": r.data,
            }
            for r in records
        ],
    }


def _cell(value) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def portability_csv(content: dict) -> str:
    """One row per field: category, purpose, source, collected_at, field, value."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["category", "purpose", "source", "collected_at", "field", "value"])
    for record in content["records"]:
        for field, value in sorted(record["data"].items()):
            writer.writerow(
                [
                    record["category"],
                    record["purpose"],
                    record["source"],
                    record["collected_at"],
                    field,
                    _cell(value),
                ]
            )
    return out.getvalue()
