"""`demo_seed`: the generated subjects of every organisation and the fixed demo people.

Subject number `n` of an organisation is generated from (`seed`,
organisation, `n`) alone; a subject that exists already is skipped before it
is generated, and rows are written with `subject_rows_write(update_existing=False)`.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection, reset_queries
from django.db.models import Q

from retention.audit import log_action
from retention.demo import coachen, expektra, framsteget, prognoscentret, prokompetens
from retention.demo.common import (
    CUSTOMER_NUMBER_PREFIX,
    DEPARTMENTS,
    EMAIL_DOMAINS,
    JOB_TITLES,
    ORGANISATION_SLUGS,
    STOCKHOLM,
    DemoError,
    Kit,
    Person,
    Pools,
    ascii_name,
    random_personnummer,
    random_phone,
)
from retention.identifiers import normalise_phone
from retention.models import DataSubject, Organisation
from retention.services.expiry import records_refresh
from retention.services.records import SubjectRow, WriteCounts, subject_rows_write


@dataclass(frozen=True)
class DemoPerson:
    organisation: str
    external_id: str
    name: str
    email: str
    description: str


FIXED_PEOPLE = (
    DemoPerson(
        "framsteget",
        "demo-framsteget-anna-andersson",
        "Anna Andersson",
        "anna.andersson@example.se",
        "FRAMSTEGET customer: contact and services, an invoice paid 2 months ago, one paid "
        "20 months ago (past the 18 months), one unpaid; IP addresses 5 and 40 days old; a "
        "fault report 8 months old; an invoice disclosed to the print supplier",
    ),
    DemoPerson(
        "coachen",
        "demo-coachen-erik-lindqvist",
        "Erik Lindqvist",
        "erik.lindqvist@example.se",
        "Coachen client whose contract ended two calendar years ago: health data (Art. 9), "
        "personnummer, a paid invoice, correspondence",
    ),
    DemoPerson(
        "prokompetens",
        "demo-prokompetens-maria-svensson",
        "Maria Svensson",
        "maria.svensson@example.se",
        "Prokompetens participant whose subscription ended 3 months ago: log-in, two courses "
        "with test results and a certificate (shown to her employer), an invoice",
    ),
    DemoPerson(
        "prognoscentret",
        "demo-prognoscentret-johan-berg",
        "Johan Berg",
        "johan.berg@example.se",
        "Prognoscentret prospect bought from an address vendor (source third_party), "
        "never a customer",
    ),
    DemoPerson(
        "expektra",
        "demo-expektra-sara-nilsson",
        "Sara Nilsson",
        "sara.nilsson@example.se",
        "Expektra client contact with a product log-in and a CRM marketing entry",
    ),
)


@dataclass
class SeedResult:
    subjects: int
    per_organisation: dict[str, int]
    subjects_existing: int = 0  # skipped: they were there already
    counts: WriteCounts = field(default_factory=WriteCounts)
    seconds: float = 0.0


Scenario = Callable[[Kit, Person, SubjectRow, random.Random], None]
MODULES = {
    "prognoscentret": prognoscentret,
    "prokompetens": prokompetens,
    "coachen": coachen,
    "framsteget": framsteget,
    "expektra": expektra,
}
SCENARIOS: dict[str, Scenario] = {slug: module.subject for slug, module in MODULES.items()}
FIXED_SCENARIOS: dict[str, Scenario] = {
    slug: module.fixed_person for slug, module in MODULES.items()
}
# Share of subjects that are (or were) customers and so have a customer number.
CUSTOMER_SHARE = {
    "prognoscentret": 0.6,
    "prokompetens": 1.0,
    "coachen": 0.65,
    "framsteget": 1.0,
    "expektra": 1.0,
}


def _person(pools: Pools, rng: random.Random, slug: str, n: int, index: int) -> Person:
    first = rng.choice(pools.first_names)
    last = rng.choice(pools.last_names)
    postcode, city = rng.choice(pools.places)
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randint(0, 54 * 365))
    is_customer = rng.random() < CUSTOMER_SHARE[slug]
    return Person(
        organisation=slug,
        external_id=f"demo-{slug}-{n}",
        first=first,
        last=last,
        email=f"{ascii_name(first)}.{ascii_name(last)}.{index}@{rng.choice(EMAIL_DOMAINS)}",
        phone=random_phone(rng) if rng.random() < 0.6 else None,
        street=rng.choice(pools.streets),
        postcode=postcode,
        city=city,
        birth=birth,
        employer=rng.choice(pools.companies),
        job_title=rng.choice(JOB_TITLES),
        department=rng.choice(DEPARTMENTS),
        personnummer=random_personnummer(rng, birth) if rng.random() < 0.4 else None,
        customer_number=f"{CUSTOMER_NUMBER_PREFIX[slug]}-{100000 + n}" if is_customer else None,
    )


# --------------------------------------------------------------------------
# The fixed demo people
# --------------------------------------------------------------------------


def _fixed_people(kits: dict[str, Kit]) -> list[SubjectRow]:
    rng = random.Random(0)  # only for fields nobody asserts on  # noqa: S311
    rows = []
    for demo in FIXED_PEOPLE:
        kit = kits[demo.organisation]
        first, last = demo.name.split()
        person = Person(
            organisation=demo.organisation,
            external_id=demo.external_id,
            first=first,
            last=last,
            email=demo.email,
            phone=normalise_phone("070-174 06 05"),  # PTS series reserved for fiction
            street="Storgatan 1",
            postcode="111 22",
            city="Stockholm",
            birth=dt.date(1985, 4, 12),
            employer="Exempelbolaget AB",
            job_title="Projektledare",
            department="Ekonomi",
            customer_number=f"{CUSTOMER_NUMBER_PREFIX[demo.organisation]}-DEMO-1",
        )
        person.personnummer = random_personnummer(random.Random(demo.email), person.birth)  # noqa: S311
        if demo.organisation == "prognoscentret":
            person.customer_number = None
        row = SubjectRow(organisation_id=kit.organisation.pk, external_id=demo.external_id)
        FIXED_SCENARIOS[demo.organisation](kit, person, row, rng)
        row.identifiers = person.identifiers()
        rows.append(row)
    return rows


# --------------------------------------------------------------------------
# Seeding
# --------------------------------------------------------------------------


def _anchor(today: dt.date | None) -> dt.datetime:
    """Midnight in Stockholm of `today`: every date in a run is counted back from it."""
    today = today or dt.datetime.now(STOCKHOLM).date()
    return dt.datetime(today.year, today.month, today.day, tzinfo=STOCKHOLM)


def demo_seed(
    *,
    subjects: int,
    seed: int = 1,
    today: dt.date | None = None,
    chunk_size: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> SeedResult:
    """Add the first `subjects` demo subjects and the fixed demo people, where missing.

    A subject that exists already is skipped whole, before it is generated:
    re-running is quick, and demo records that an erasure removed from an
    existing subject do not come back.
    """
    if subjects < 0:
        raise DemoError("The number of subjects cannot be negative.")
    started = time.monotonic()
    organisations = _organisations()
    now = _anchor(today)
    kits = {slug: Kit(organisations[slug], now) for slug in ORGANISATION_SLUGS}
    pools = Pools.build(seed)
    result = SeedResult(subjects=subjects, per_organisation=dict.fromkeys(ORGANISATION_SLUGS, 0))
    org_ids = {slug: organisation.pk for slug, organisation in organisations.items()}

    fixed = [(org_ids[p.organisation], p.external_id) for p in FIXED_PEOPLE]
    existing = _existing(fixed)
    _write([row for row in _fixed_people(kits) if row.external_id not in existing], result)
    result.subjects_existing += len(existing)

    for chunk_start in range(0, subjects, chunk_size):
        planned = _plan(range(chunk_start, min(chunk_start + chunk_size, subjects)), result)
        existing = _existing([(org_ids[slug], ext) for _, slug, _, ext in planned])
        result.subjects_existing += len(existing)
        rows = [
            _generated(kits[slug], pools, seed=seed, index=index, n=n)
            for index, slug, n, external_id in planned
            if external_id not in existing
        ]
        _write(rows, result)
        if progress:
            progress(planned[-1][0] + 1)
    for organisation in organisations.values():
        records_refresh(organisation=organisation)
    result.seconds = time.monotonic() - started
    _log(result, seed=seed)
    return result


def _organisations() -> dict[str, Organisation]:
    organisations = {o.slug: o for o in Organisation.objects.filter(slug__in=ORGANISATION_SLUGS)}
    missing = sorted(set(ORGANISATION_SLUGS) - set(organisations))
    if missing:
        raise DemoError(
            f"Organisations not loaded: {', '.join(missing)}. Run `manage.py load_policies` first."
        )
    return organisations


def _plan(indexes: range, result: SeedResult) -> list[tuple[int, str, int, str]]:
    """(index, organisation slug, n, external id) of the subjects numbered `indexes`:
    subjects go round the organisations, `n` counts within one."""
    planned = []
    for index in indexes:
        slug = ORGANISATION_SLUGS[index % len(ORGANISATION_SLUGS)]
        n = index // len(ORGANISATION_SLUGS) + 1
        planned.append((index, slug, n, f"demo-{slug}-{n}"))
        result.per_organisation[slug] += 1
    return planned


def _generated(kit: Kit, pools: Pools, *, seed: int, index: int, n: int) -> SubjectRow:
    """Subject `n` of the kit's organisation, the `index`-th of the run."""
    slug = kit.organisation.slug
    # One generator per subject: subject n is the same whatever N is.
    rng = random.Random(f"{seed}:{slug}:{n}")  # noqa: S311 - demo data, not secrets
    person = _person(pools, rng, slug, n, index + 1)
    row = SubjectRow(organisation_id=kit.organisation.pk, external_id=f"demo-{slug}-{n}")
    SCENARIOS[slug](kit, person, row, rng)
    row.identifiers = person.identifiers()
    return row


def _log(result: SeedResult, *, seed: int) -> None:
    log_action(
        action="retention.demo.seeded",
        data={
            "subjects": result.subjects,
            "seed": seed,
            "subjects_existing": result.subjects_existing,
            **vars(result.counts),
        },
    )


def _existing(keys: list[tuple[int, str]]) -> set[str]:
    """The external ids among `keys` (organisation id, external id) that exist: one query."""
    by_organisation: dict[int, list[str]] = {}
    for organisation_id, external_id in keys:
        by_organisation.setdefault(organisation_id, []).append(external_id)
    query = Q()
    for organisation_id, external_ids in by_organisation.items():
        query |= Q(organisation_id=organisation_id, external_id__in=external_ids)
    if not by_organisation:
        return set()
    return set(DataSubject.objects.filter(query).values_list("external_id", flat=True))


def _write(rows: list[SubjectRow], result: SeedResult) -> None:
    result.counts.add(subject_rows_write(rows=rows, update_existing=False))
    if not connection.force_debug_cursor:
        # With DEBUG on, Django keeps the text of every query; a large seed
        # would hold hundreds of megabytes of SQL.
        reset_queries()
