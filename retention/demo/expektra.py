"""Expektra (software for client registers): client contacts, product log-ins, CRM."""

from __future__ import annotations

import datetime as dt
import random

from retention.demo.common import Kit, Person, random_password_hash
from retention.services.records import SubjectRow

ASSIGNMENTS = (
    "Analys av energiprisernas påverkan på kundens kalkyler.",
    "Workshop om prognosmodeller för efterfrågan.",
    "Utvärdering av prissättningsmodell.",
)


def subject(kit: Kit, person: Person, row: SubjectRow, rng: random.Random) -> None:
    """What Expektra holds about generated client contact `person` (drawn from `rng`)."""
    since = rng.randint(30, 3000)
    start = kit.ago(rng, since)
    ended = kit.ago(rng, rng.randint(0, since - 10)) if rng.random() < 0.3 else None
    external = rng.random() < 0.3
    contact = kit.record(
        person,
        row,
        "client_contact",
        "customer_register",
        collected_at=start,
        contract_ended_at=ended,
        source="third_party" if external else "provided",
        source_detail="extern adresskälla" if external else "uppdragsgivaren",
    )
    if rng.random() < 0.1:
        kit.disclose(row, "it_suppliers", contact, start + dt.timedelta(days=1))
    if rng.random() < 0.6:
        kit.record(
            person,
            row,
            "login",
            "product_login",
            collected_at=start,
            contract_ended_at=ended,
            values={
                "password_hash": random_password_hash(rng),
                "settings": {"språk": "sv", "notiser": rng.random() < 0.5},
            },
        )
    if rng.random() < 0.5:
        kit.record(
            person,
            row,
            "crm_marketing",
            "direct_marketing",
            collected_at=start,
            contract_ended_at=ended,
        )
    if rng.random() < 0.2:
        kit.record(
            person,
            row,
            "assignment_data",
            "customer_register",
            collected_at=kit.ago(rng, rng.randint(0, since)),
            contract_ended_at=ended,
            values={"content": rng.choice(ASSIGNMENTS), "image": f"bilder/{row.external_id}-1.jpg"},
        )


def fixed_person(kit: Kit, person: Person, row: SubjectRow, rng: random.Random) -> None:
    """Sara Nilsson: a client contact with a product log-in and a CRM marketing entry."""
    start = kit.now - dt.timedelta(days=700)
    kit.record(
        person,
        row,
        "client_contact",
        "customer_register",
        collected_at=start,
        source_detail="uppdragsgivaren",
    )
    kit.record(
        person,
        row,
        "login",
        "product_login",
        collected_at=start,
        values={
            "password_hash": "pbkdf2_sha256$870000$demo$not-a-real-hash",
            "settings": {"språk": "sv", "notiser": True},
        },
    )
    kit.record(person, row, "crm_marketing", "direct_marketing", collected_at=start)
