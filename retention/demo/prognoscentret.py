"""Prognoscentret (forecasts and seminars): customers' contacts, and bought prospects.

A prospect comes from an address vendor (source third_party) and was never a
customer; a customer has a contract, seminars, newsletters and surveys.
"""

from __future__ import annotations

import datetime as dt
import random

from retention.demo.common import Kit, Person, iso_date
from retention.services.records import SubjectRow

SERVICES = (
    "Konjunkturprognos Sverige (licens)",
    "Regionala prognoser",
    "Branschanalys handel",
    "Seminarieserie Omvärld",
    "Kundwebb Premium",
)
SEMINARS = (
    "Konjunkturdagen",
    "Prognosfrukost i Stockholm",
    "Webbinarium: räntor och inflation",
    "Analysdag för kommuner",
)
PROSPECT_VENDORS = ("Adressleverantören Norden AB (demo)", "Företagsregistret Direkt AB (demo)")
INTERNAL_NOTES = (
    "Intresserad av regionala prognoser inför budgetarbetet.",
    "Har bytt roll internt, ny kontaktperson för licensen kommer.",
    "Vill bli kontaktad först efter sommaren.",
)
SURVEYS = ("Kundundersökning 2024", "Seminarieutvärdering", "Behovsanalys prognostjänster")


def subject(kit: Kit, person: Person, row: SubjectRow, rng: random.Random) -> None:
    """What Prognoscentret holds about generated customer or prospect `person`."""
    if person.customer_number is None:
        _prospect(kit, person, row, rng)
        return
    since = rng.randint(60, 2500)
    start = kit.ago(rng, since)
    ended = kit.ago(rng, rng.randint(0, since - 30)) if rng.random() < 0.25 else None
    _contract(kit, person, row, rng, start=start, ended=ended)
    if rng.random() < 0.4:
        kit.record(
            person,
            row,
            "course_attendance",
            "contract",
            collected_at=kit.ago(rng, rng.randint(0, since)),
            purpose_ended_at=ended,
            values={
                "course": rng.choice(SEMINARS),
                "attendance": rng.choice(("deltog", "anmäld, uteblev")),
            },
        )
    _marketing(kit, person, row, rng, since=since, start=start, ended=ended)
    if rng.random() < 0.5:
        _web_activity(kit, person, row, rng, since=since, ended=ended)
    if rng.random() < 0.15:
        kit.record(
            person,
            row,
            "internal_notes",
            "communication_notes",
            collected_at=kit.ago(rng, rng.randint(0, since)),
            purpose_ended_at=ended,
            source="derived",
            values={"note": rng.choice(INTERNAL_NOTES)},
        )


def _prospect(kit, person, row, rng) -> None:
    """A prospect bought from an address vendor."""
    bought = rng.randint(0, 1500)
    vendor = rng.choice(PROSPECT_VENDORS)
    ended = kit.ago(rng, rng.randint(0, bought)) if rng.random() < 0.3 else None
    kit.record(
        person,
        row,
        "prospect",
        "prospects",
        collected_at=kit.ago(rng, bought),
        purpose_ended_at=ended,
        source="third_party",
        source_detail=vendor,
        values={"source": vendor},
    )


def _contract(kit, person, row, rng, *, start, ended) -> None:
    contact = kit.record(
        person, row, "contact", "contract", collected_at=start, purpose_ended_at=ended
    )
    kit.record(
        person,
        row,
        "contract_purchase",
        "contract",
        collected_at=start,
        purpose_ended_at=ended,
        values={
            "purchased_service": rng.choice(SERVICES),
            "customer_role": rng.choice(("licensanvändare", "kontaktperson", "beställare")),
        },
    )
    kit.record(
        person,
        row,
        "employer_info",
        "contract",
        collected_at=start,
        purpose_ended_at=ended,
        source="third_party",
        source_detail="arbetsgivaren",
    )
    if rng.random() < 0.2:
        kit.disclose(row, "employer", contact, start + dt.timedelta(days=1))


def _marketing(kit, person, row, rng, *, since, start, ended) -> None:
    """Newsletters and surveys."""
    if rng.random() < 0.5:
        kit.record(
            person,
            row,
            "newsletter",
            "marketing",
            collected_at=start,
            purpose_ended_at=ended,
            values={
                "newsletter_subscriptions": rng.sample(
                    ("Veckobrevet", "Konjunkturnytt", "Seminarieinbjudningar"), rng.randint(1, 2)
                )
            },
        )
    if rng.random() < 0.25:
        kit.record(
            person,
            row,
            "survey",
            "surveys",
            collected_at=kit.ago(rng, rng.randint(0, since)),
            purpose_ended_at=ended,
            values={
                "survey": rng.choice(SURVEYS),
                "survey_answers": {"rekommendera": rng.randint(0, 10)},
                "rating": rng.randint(1, 5),
            },
            source_detail="samtycke i enkäten",
        )


def _web_activity(kit, person, row, rng, *, since, ended) -> None:
    kit.record(
        person,
        row,
        "customer_web_activity",
        "quality_development",
        collected_at=kit.ago(rng, rng.randint(0, since)),
        purpose_ended_at=ended,
        source="observed",
        values={
            "login_history": [
                iso_date(kit.ago(rng, rng.randint(0, 90))) for _ in range(rng.randint(1, 4))
            ],
            "download_history": rng.sample(
                ("Prognos Q1.pdf", "Prognos Q3.pdf", "Regionrapport.xlsx"), rng.randint(0, 2)
            ),
        },
    )


def fixed_person(kit: Kit, person: Person, row: SubjectRow, rng: random.Random) -> None:
    """Johan Berg: a prospect bought from an address vendor, never a customer."""
    vendor = PROSPECT_VENDORS[0]
    kit.record(
        person,
        row,
        "prospect",
        "prospects",
        collected_at=kit.now - dt.timedelta(days=200),
        source="third_party",
        source_detail=vendor,
        values={"source": vendor},
    )
