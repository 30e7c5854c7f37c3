"""FRAMSTEGET (broadband and telephony): a customer's contract, invoices, IP addresses.

Some invoices were paid more than 18 months ago, IP addresses are a few days
to two months old, and a contract that ended takes the IP addresses with it.
"""

from __future__ import annotations

import datetime as dt
import random

from retention.demo.common import (
    Kit,
    Person,
    invoice_values,
    iso_date,
    random_ip_address,
)
from retention.services.records import SubjectRow

SERVICES = (
    ("Bredband 100/100", 299),
    ("Bredband 250/250", 399),
    ("Bredband 1000/1000", 499),
    ("IP-telefoni", 99),
    ("E-posttjänst Plus", 49),
    ("Webbhotell", 79),
)
CUSTOMER_MESSAGES = (
    "Hej! Min uppkoppling går ner varje kväll, kan ni se vad det beror på?",
    "Jag vill byta till en snabbare tjänst från nästa månad.",
    "Fakturan för förra månaden verkar vara dubbeldebiterad.",
    "Tack för snabb hjälp med routern!",
    "Kan ni skicka fakturorna via e-post i stället för papper?",
    "Jag har flyttat, här är min nya adress.",
)


def subject(kit: Kit, person: Person, row: SubjectRow, rng: random.Random) -> None:
    """What FRAMSTEGET holds about generated customer `person` (drawn from `rng`)."""
    since = rng.randint(90, 3000)
    ended_days = rng.randint(1, min(730, since - 60)) if rng.random() < 0.3 else None
    ended = kit.ago(rng, ended_days) if ended_days else None
    plans = rng.sample(SERVICES, rng.randint(1, 3))
    _contract(kit, person, row, rng, since=since, ended=ended, plans=plans)
    _invoices(kit, person, row, rng, since=since, ended_days=ended_days, plans=plans)
    if not ended:
        _ip_addresses(kit, person, row, rng)
    if rng.random() < 0.3:
        _fault_report(kit, person, row, rng)
    if person.personnummer and rng.random() < 0.5:
        _credit_check(kit, person, row, rng)
    if rng.random() < 0.5:
        _demographics(kit, person, row, rng, since=since, ended=ended)
    if rng.random() < 0.2:
        _communications(kit, person, row, rng, since=since, ended_days=ended_days, ended=ended)


def _contract(kit, person, row, rng, *, since, ended, plans) -> None:
    kit.record(
        person,
        row,
        "customer_contact",
        "service_delivery",
        collected_at=kit.ago(rng, since),
        contract_ended_at=ended,
    )
    kit.record(
        person,
        row,
        "services",
        "service_delivery",
        collected_at=kit.ago(rng, since),
        contract_ended_at=ended,
        values={
            "services": [name for name, _ in plans],
            "service_usage": f"{rng.randint(5, 900)} GB senaste månaden",
        },
    )


def _invoice(kit, person, row, *, invoiced, paid, values):
    """An invoice record (derived from billing), settled when paid."""
    return kit.record(
        person,
        row,
        "invoice",
        "billing",
        collected_at=invoiced,
        settled_at=paid,
        values=values,
        source="derived",
    )


def _invoices(kit, person, row, rng, *, since, ended_days, plans) -> None:
    """The latest invoice within the last month of the contract, older ones further back,
    so some were paid more than 18 months ago."""
    price = sum(p for _, p in plans)
    day = (ended_days or 0) + rng.randint(0, 30)
    for k in range(rng.randint(1, 4)):
        if day > since:
            break
        invoiced = kit.ago(rng, day)
        unpaid = k == 0 and rng.random() < 0.3
        paid = None if unpaid else min(invoiced + dt.timedelta(days=rng.randint(3, 40)), kit.now)
        values = invoice_values(rng, f"{row.external_id[5:]}-{k + 1}", price, invoiced, paid)
        values["description"] = ", ".join(name for name, _ in plans)
        invoice = _invoice(kit, person, row, invoiced=invoiced, paid=paid, values=values)
        if rng.random() < 0.3:
            kit.disclose(row, "print_processor", invoice, invoiced + dt.timedelta(days=1))
        day += rng.choice((30, 30, 90, 180, 365))


def _ip_addresses(kit, person, row, rng) -> None:
    for _ in range(rng.randint(1, 3)):
        ip = kit.record(
            person,
            row,
            "ip_address",
            "information_security",
            collected_at=kit.ago(rng, rng.randint(0, 60)),
            values={"ip_address": random_ip_address(rng)},
            source="observed",
            source_detail="inloggning",
        )
        if rng.random() < 0.02:
            kit.disclose(row, "law_enforcement", ip, ip.collected_at + dt.timedelta(days=2))


def _fault_report(kit, person, row, rng) -> None:
    kit.record(
        person,
        row,
        "fault_finding",
        "service_development",
        collected_at=kit.ago(rng, rng.randint(0, 365)),
        values={
            "fault_report": rng.choice(CUSTOMER_MESSAGES[:2]),
            "diagnostic_log": f"linkdown count={rng.randint(1, 40)} snr={rng.randint(5, 40)}dB",
        },
    )


def _credit_check(kit, person, row, rng) -> None:
    checked = kit.ago(rng, rng.randint(0, 180))
    kit.record(
        person,
        row,
        "credit_check",
        "credit_check",
        collected_at=checked,
        values={
            "credit_report": {
                "riskklass": rng.randint(1, 5),
                "betalningsanmärkningar": rng.choice((0, 0, 0, 1)),
            },
            "credit_check_date": iso_date(checked),
        },
        source="third_party",
        source_detail="Kreditupplysningsföretag (demo)",
    )


def _demographics(kit, person, row, rng, *, since, ended) -> None:
    age = (kit.now.date() - person.birth).days // 365
    kit.record(
        person,
        row,
        "demographics",
        "direct_marketing",
        collected_at=kit.ago(rng, since),
        contract_ended_at=ended,
        source="derived",
        values={
            "gender": rng.choice(("kvinna", "man", "okänt")),
            "age": age,
            "city_size": rng.choice(("storstad", "mellanstor stad", "mindre ort", "landsbygd")),
        },
    )


def _communications(kit, person, row, rng, *, since, ended_days, ended) -> None:
    kit.record(
        person,
        row,
        "communications",
        "customer_service",
        collected_at=kit.ago(rng, rng.randint(ended_days or 0, since)),
        contract_ended_at=ended,
        values={
            "message": rng.choice(CUSTOMER_MESSAGES),
            "questionnaire_answers": {"nöjdhet": rng.randint(1, 5)},
            "complaint": None,
        },
    )


# --------------------------------------------------------------------------
# The fixed demo person: Anna Andersson
# --------------------------------------------------------------------------


def fixed_person(kit: Kit, person: Person, row: SubjectRow, rng: random.Random) -> None:
    """Anna: invoices paid 2 and 20 months ago and one unpaid, IP addresses 5 and 40 days
    old, a fault report 8 months old, an invoice disclosed to the print supplier."""
    since = kit.now - dt.timedelta(days=3 * 365)
    kit.record(person, row, "customer_contact", "service_delivery", collected_at=since)
    kit.record(
        person,
        row,
        "services",
        "service_delivery",
        collected_at=since,
        values={"services": ["Bredband 250/250"], "service_usage": "310 GB senaste månaden"},
    )
    _anna_invoices(kit, person, row, rng)
    for days, ip in ((5, "192.0.2.10"), (40, "192.0.2.77")):
        kit.record(
            person,
            row,
            "ip_address",
            "information_security",
            collected_at=kit.now - dt.timedelta(days=days),
            values={"ip_address": ip},
            source="observed",
            source_detail="inloggning",
        )
    kit.record(
        person,
        row,
        "fault_finding",
        "service_development",
        collected_at=kit.now - dt.timedelta(days=240),
        values={
            "fault_report": CUSTOMER_MESSAGES[0],
            "diagnostic_log": "linkdown count=12 snr=18dB",
        },
    )


def _anna_invoices(kit, person, row, rng) -> None:
    for number, invoiced_days, paid_days in (
        ("1001", 640, 610),
        ("1002", 75, 60),
        ("1003", 40, None),
    ):
        invoiced = kit.now - dt.timedelta(days=invoiced_days)
        paid = kit.now - dt.timedelta(days=paid_days) if paid_days else None
        values = invoice_values(rng, f"ANNA-{number}", 399, invoiced, paid)
        values["description"] = "Bredband 250/250"
        invoice = _invoice(kit, person, row, invoiced=invoiced, paid=paid, values=values)
        if number == "1002":
            kit.disclose(row, "print_processor", invoice, invoiced + dt.timedelta(days=1))
