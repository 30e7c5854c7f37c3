"""Coachen (coaching): clients with contracts, health data (Art. 9), and enquirers.

An enquirer asked about coaching but never signed (kept 3 months from the
last contact); a client's contract may have ended years ago.
"""

from __future__ import annotations

import datetime as dt
import random

from retention.demo.common import (
    STOCKHOLM,
    Kit,
    Person,
    invoice_values,
    iso_date,
    random_ip_address,
    random_phone,
)
from retention.services.records import SubjectRow

COACHING_MESSAGES = (
    "Tack för samtalet i dag, jag har funderat vidare på det vi pratade om.",
    "Kan vi flytta nästa session till torsdag?",
    "Jag är intresserad av ett coachningsupplägg för mitt ledarskap. Vad kostar det?",
    "Här är min reflektion efter övningen.",
)
HEALTH_NOTES = (
    "Sömnsvårigheter under perioden, påverkar energin i arbetet.",
    "Återhämtad efter utmattningssyndrom; vill arbeta med gränssättning.",
    "Migrän några gånger i månaden; sessionerna anpassas efter det.",
    "Lätt nedstämdhet under vintern enligt klienten.",
)


def subject(kit: Kit, person: Person, row: SubjectRow, rng: random.Random) -> None:
    """What Coachen holds about generated client or enquirer `person` (drawn from `rng`)."""
    if person.customer_number is None:
        _enquirer(kit, person, row, rng)
        return
    since = rng.randint(100, 3650)
    ended = kit.ago(rng, rng.randint(30, since - 60)) if rng.random() < 0.6 else None
    start = kit.ago(rng, since)
    kit.record(person, row, "contact", "contract", collected_at=start, contract_ended_at=ended)
    if person.personnummer:
        kit.record(person, row, "identity", "contract", collected_at=start, contract_ended_at=ended)
    _purchases(kit, person, row, rng, start=start, ended=ended)
    if rng.random() < 0.5:
        kit.record(
            person,
            row,
            "correspondence",
            "contract",
            collected_at=start + dt.timedelta(days=rng.randint(1, 60)),
            contract_ended_at=ended,
            values={"message": rng.choice(COACHING_MESSAGES)},
        )
    if rng.random() < 0.25:
        _recording(kit, person, row, rng, start=start, ended=ended)
    _observations(kit, person, row, rng, since=since, start=start, ended=ended)
    if rng.random() < 0.05:
        _representative(kit, person, row, rng, start=start, ended=ended)


def _enquirer(kit, person, row, rng) -> None:
    """Someone who asked about coaching but never signed: 3 months from last contact."""
    last = rng.randint(0, 240)
    first = kit.ago(rng, last + rng.randint(0, 30))
    last_contact = kit.ago(rng, last)
    kit.record(
        person, row, "contact", "enquiries", collected_at=first, last_contact_at=last_contact
    )
    kit.record(
        person,
        row,
        "correspondence",
        "enquiries",
        collected_at=last_contact,
        last_contact_at=last_contact,
        values={"message": COACHING_MESSAGES[2]},
    )


def _purchases(kit, person, row, rng, *, start, ended) -> None:
    for k in range(rng.randint(1, 3)):
        invoiced = start + dt.timedelta(days=30 * k)
        paid = min(invoiced + dt.timedelta(days=rng.randint(1, 20)), kit.now)
        values = invoice_values(
            rng, f"CO{row.external_id[-6:]}-{k + 1}", rng.choice((1500, 2500, 4500)), invoiced, paid
        )
        values["description"] = "Coachningssession"
        purchase = kit.record(
            person,
            row,
            "purchases",
            "contract",
            collected_at=invoiced,
            settled_at=paid,
            contract_ended_at=ended,
            values=values,
        )
        if rng.random() < 0.5:
            kit.disclose(row, "payment_service_providers", purchase, invoiced)


def _recording(kit, person, row, rng, *, start, ended) -> None:
    recorded = start + dt.timedelta(days=rng.randint(1, 60))
    kit.record(
        person,
        row,
        "recordings",
        "contract",
        collected_at=recorded,
        contract_ended_at=ended,
        values={
            "call_recording": f"inspelningar/{row.external_id}-1.m4a",
            "recorded_at": iso_date(recorded),
        },
    )


def _observations(kit, person, row, rng, *, since, start, ended) -> None:
    """Health notes (Art. 9), and what the service and the website observed."""
    if rng.random() < 0.35:
        kit.record(
            person,
            row,
            "health",
            "coaching_health",
            collected_at=start + dt.timedelta(days=rng.randint(0, 30)),
            contract_ended_at=ended,
            values={"health_information": rng.choice(HEALTH_NOTES)},
        )
    if rng.random() < 0.4:
        kit.record(
            person,
            row,
            "service_usage",
            "marketing",
            collected_at=start,
            contract_ended_at=ended,
            source="observed",
            values={"service_usage": f"{rng.randint(1, 30)} sessioner"},
        )
    if rng.random() < 0.3:
        kit.record(
            person,
            row,
            "online_identifiers",
            "marketing",
            collected_at=kit.ago(rng, rng.randint(0, since)),
            contract_ended_at=ended,
            source="observed",
            values={
                "ip_address": random_ip_address(rng),
                "cookie_id": f"{rng.getrandbits(64):016x}",
            },
        )


def _representative(kit, person, row, rng, *, start, ended) -> None:
    kit.record(
        person,
        row,
        "representatives",
        "contract",
        collected_at=start,
        contract_ended_at=ended,
        values={
            "name": f"{rng.choice(('Lars', 'Karin', 'Per'))} {person.last}",
            "email": f"ombud.{row.external_id[-6:]}@example.org",
            "phone": random_phone(rng),
            "role": rng.choice(("god man", "förmyndare", "ombud")),
            "represented_party": person.name,
        },
    )


# --------------------------------------------------------------------------
# The fixed demo person: Erik Lindqvist
# --------------------------------------------------------------------------


def fixed_person(kit: Kit, person: Person, row: SubjectRow, rng: random.Random) -> None:
    """Erik: a contract that ended two calendar years ago, health data (Art. 9),
    personnummer, a paid invoice, correspondence."""
    ended = dt.datetime(kit.now.year - 2, 6, 30, 12, tzinfo=STOCKHOLM)
    start = ended - dt.timedelta(days=200)
    kit.record(person, row, "contact", "contract", collected_at=start, contract_ended_at=ended)
    kit.record(person, row, "identity", "contract", collected_at=start, contract_ended_at=ended)
    kit.record(
        person,
        row,
        "health",
        "coaching_health",
        collected_at=start + dt.timedelta(days=7),
        contract_ended_at=ended,
        values={"health_information": HEALTH_NOTES[1]},
    )
    paid = start + dt.timedelta(days=10)
    values = invoice_values(rng, "CO-ERIK-1", 4500, start, paid)
    values["description"] = "Coachningspaket, 6 sessioner"
    kit.record(
        person,
        row,
        "purchases",
        "contract",
        collected_at=start,
        settled_at=paid,
        contract_ended_at=ended,
        values=values,
    )
    kit.record(
        person,
        row,
        "correspondence",
        "contract",
        collected_at=start + dt.timedelta(days=20),
        contract_ended_at=ended,
        values={"message": COACHING_MESSAGES[0]},
    )
