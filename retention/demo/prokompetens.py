"""Prokompetens (online courses): a participant's subscription, courses and invoice.

Subscriptions run one or two years; course results and certificates are
sometimes shown to the participant's employer.
"""

from __future__ import annotations

import datetime as dt
import random

from retention.demo.common import Kit, Person, invoice_values, iso_date
from retention.services.records import SubjectRow

SUBSCRIPTIONS = (
    ("Baspaketet", 2900),
    ("Ekonomi & Excel", 4900),
    ("Ledarskapspaketet", 7900),
    ("Projektledning Plus", 5900),
)
COURSES = (
    "Excel fördjupning",
    "Projektledning grund",
    "Arbetsrätt för chefer",
    "Momsregler i praktiken",
    "Svåra samtal",
    "Bokslut och årsredovisning",
    "Agil planering",
    "GDPR för handläggare",
)
COURSE_MESSAGES = (
    "Hej, jag kommer inte åt kursmaterialet i modul 3.",
    "När får jag mitt intyg?",
    "Kan min kollega ta över min plats på kursen?",
    "Tack för en bra utbildning!",
)


def subject(kit: Kit, person: Person, row: SubjectRow, rng: random.Random) -> None:
    """What Prokompetens holds about generated participant `person` (drawn from `rng`)."""
    start_days = rng.randint(30, 1800)
    start = kit.ago(rng, start_days)
    end = start + dt.timedelta(days=rng.choice((365, 730)))
    ended = end if end < kit.now else None
    name, price = rng.choice(SUBSCRIPTIONS)
    kit.record(person, row, "contact", "course_access", collected_at=start, contract_ended_at=ended)
    kit.record(person, row, "login", "course_access", collected_at=start, contract_ended_at=ended)
    kit.record(
        person,
        row,
        "subscription",
        "course_access",
        collected_at=start,
        contract_ended_at=ended,
        values={
            "subscription": name,
            "subscription_start": iso_date(start),
            "subscription_end": iso_date(end),
        },
    )
    _courses(kit, person, row, rng, start=start, end=end, ended=ended)
    if rng.random() < 0.4:
        _invoice(kit, person, row, rng, start=start, ended=ended, name=name, price=price)
    if rng.random() < 0.2:
        kit.record(
            person,
            row,
            "messages",
            "course_communication",
            collected_at=start + dt.timedelta(days=rng.randint(1, 300)),
            contract_ended_at=ended,
            values={"message": rng.choice(COURSE_MESSAGES)},
        )
    if rng.random() < 0.5:
        _usage_statistics(kit, person, row, rng, start=start, ended=ended)


def _course_progress(kit, person, row, *, course, started, ended, completed, result, certificate):
    """One course's progress record (completed, result and certificate None while not done)."""
    return kit.record(
        person,
        row,
        "course_progress",
        "course_access",
        collected_at=started,
        contract_ended_at=ended,
        values={
            "course": course,
            "started": iso_date(started),
            "completed": iso_date(completed) if completed else None,
            "test_result": result,
            "certificate": certificate,
        },
    )


def _courses(kit, person, row, rng, *, start, end, ended) -> None:
    for k, course in enumerate(rng.sample(COURSES, rng.randint(1, 3))):
        started = start + dt.timedelta(days=rng.randint(0, 200))
        completed = started + dt.timedelta(days=rng.randint(7, 90))
        done = completed < min(kit.now, end) and rng.random() < 0.8
        progress = _course_progress(
            kit,
            person,
            row,
            course=course,
            started=started,
            ended=ended,
            completed=completed if done else None,
            result=f"{rng.randint(55, 100)} %" if done else None,
            certificate=f"INTYG-{row.external_id[5:]}-{k + 1}" if done else None,
        )
        if rng.random() < 0.5:
            kit.disclose(row, "employer", progress, progress.collected_at + dt.timedelta(days=30))


def _invoice(kit, person, row, rng, *, start, ended, name, price) -> None:
    paid = min(start + dt.timedelta(days=rng.randint(5, 30)), kit.now)
    values = invoice_values(rng, f"PK{row.external_id[-6:]}", price, start, paid)
    values["description"] = f"Prenumeration {name}"
    kit.record(
        person,
        row,
        "invoicing",
        "collaboration",
        collected_at=start,
        settled_at=paid,
        contract_ended_at=ended,
        values=values,
        source="derived",
    )


def _usage_statistics(kit, person, row, rng, *, start, ended) -> None:
    kit.record(
        person,
        row,
        "usage_statistics",
        "usage_statistics",
        collected_at=start,
        contract_ended_at=ended,
        source="observed",
        values={
            "service_usage": {"inloggningar": rng.randint(1, 200), "timmar": rng.randint(1, 80)}
        },
    )


# --------------------------------------------------------------------------
# The fixed demo person: Maria Svensson
# --------------------------------------------------------------------------


def fixed_person(kit: Kit, person: Person, row: SubjectRow, rng: random.Random) -> None:
    """Maria: a subscription that ended 3 months ago, two courses with test results and a
    certificate (shown to her employer), an invoice."""
    end = kit.now - dt.timedelta(days=90)
    start = end - dt.timedelta(days=365)
    kit.record(person, row, "contact", "course_access", collected_at=start, contract_ended_at=end)
    kit.record(person, row, "login", "course_access", collected_at=start, contract_ended_at=end)
    kit.record(
        person,
        row,
        "subscription",
        "course_access",
        collected_at=start,
        contract_ended_at=end,
        values={
            "subscription": "Ledarskapspaketet",
            "subscription_start": iso_date(start),
            "subscription_end": iso_date(end),
        },
    )
    _maria_courses(kit, person, row, start=start, end=end)
    values = invoice_values(rng, "PK-MARIA-1", 7900, start, start + dt.timedelta(days=14))
    values["description"] = "Prenumeration Ledarskapspaketet"
    kit.record(
        person,
        row,
        "invoicing",
        "collaboration",
        collected_at=start,
        settled_at=start + dt.timedelta(days=14),
        contract_ended_at=end,
        values=values,
    )


def _maria_courses(kit, person, row, *, start, end) -> None:
    for k, (course, result) in enumerate(
        (("Svåra samtal", "92 %"), ("Arbetsrätt för chefer", "74 %"))
    ):
        started = start + dt.timedelta(days=30 + 60 * k)
        progress = _course_progress(
            kit,
            person,
            row,
            course=course,
            started=started,
            ended=end,
            completed=started + dt.timedelta(days=21),
            result=result,
            certificate=f"INTYG-MARIA-{k + 1}" if k == 0 else None,
        )
        kit.disclose(row, "employer", progress, started + dt.timedelta(days=30))
