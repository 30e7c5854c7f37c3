"""Realistic Swedish demo data for the five organisations.

`demo_seed` fills the record store with `subjects` data subjects spread
evenly over the five organisations, plus the fixed demo people below, whose
e-mail addresses never change so that walk-throughs and tests can file
requests for them.

Design:

- Consistent with the policies. Every record's category and purpose come
  from the organisation's loaded policy (the category is one of the
  purpose's), its data holds exactly the category's `fields`, and its rule
  comes from the same resolver as imported records.
- Realistic for retention. Events are spread over the past months and years
  so that some records are past their retention and some are not: paid and
  unpaid invoices, IP addresses and fault reports of different ages,
  contracts that ended in past years, prospects whose last contact is old.
- Deterministic. Subject number `n` of an organisation is generated from
  (`seed`, organisation, `n`) alone and gets the external id
  `demo-<org>-<n>`, so a second run with the same arguments writes nothing
  and a run with a larger N only adds subjects.
- Additive. A subject that exists already is skipped before it is generated,
  and rows are written with `subject_rows_write(update_existing=False)` (the
  writer `import_records` uses): what exists is never overwritten, so
  re-running on a later day does not move the dates of existing demo data,
  and records an erasure removed do not come back.
- Fast. Names and addresses are drawn from pools that Faker('sv_SE') fills
  once; rows are written in chunks with a constant number of statements per
  chunk. 100,000 subjects (about 450,000 records) take one to two minutes on
  a two-core machine, about half of it in PostgreSQL's foreign-key checks;
  a second run skips every existing subject and takes seconds.

The personnummer are random numbers with a valid check digit: some may be
real people's numbers, so demo data must never leave a demo database.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.db import connection, reset_queries
from django.db.models import Q
from faker import Faker

from retention.audit import log_action
from retention.identifiers import (
    luhn_valid,
    normalise_customer_number,
    normalise_email,
    normalise_personnummer,
    normalise_phone,
)
from retention.models import DataCategory, DataSubject, Organisation, Purpose
from retention.services.expiry import records_refresh
from retention.services.records import (
    DisclosureRow,
    RecordRow,
    SubjectRow,
    WriteCounts,
    record_rules_for_organisation,
    subject_rows_write,
)

ORGANISATION_SLUGS = ("prognoscentret", "prokompetens", "coachen", "framsteget", "expektra")
CUSTOMER_NUMBER_PREFIX = {
    "prognoscentret": "PC",
    "prokompetens": "PK",
    "coachen": "CO",
    "framsteget": "FS",
    "expektra": "EX",
}
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
STOCKHOLM = ZoneInfo("Europe/Stockholm")


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


class DemoError(Exception):
    """The demo data cannot be generated (e.g. the policies are not loaded)."""


@dataclass
class SeedResult:
    subjects: int
    per_organisation: dict[str, int]
    subjects_existing: int = 0  # skipped: they were there already
    counts: WriteCounts = field(default_factory=WriteCounts)
    seconds: float = 0.0


# --------------------------------------------------------------------------
# Pools of Swedish names, places and texts
# --------------------------------------------------------------------------

JOB_TITLES = (
    "Ekonomichef",
    "Controller",
    "Inköpare",
    "Projektledare",
    "HR-specialist",
    "Säljare",
    "VD",
    "Analytiker",
    "Verksamhetsutvecklare",
    "Kommunikatör",
    "IT-samordnare",
    "Lönehandläggare",
    "Marknadschef",
    "Redovisningsekonom",
    "Enhetschef",
)
DEPARTMENTS = ("Ekonomi", "HR", "IT", "Marknad", "Försäljning", "Ledning", "Inköp", "Produktion")
FRAMSTEGET_SERVICES = (
    ("Bredband 100/100", 299),
    ("Bredband 250/250", 399),
    ("Bredband 1000/1000", 499),
    ("IP-telefoni", 99),
    ("E-posttjänst Plus", 49),
    ("Webbhotell", 79),
)
PROKOMPETENS_SUBSCRIPTIONS = (
    ("Baspaketet", 2900),
    ("Ekonomi & Excel", 4900),
    ("Ledarskapspaketet", 7900),
    ("Projektledning Plus", 5900),
)
PROKOMPETENS_COURSES = (
    "Excel fördjupning",
    "Projektledning grund",
    "Arbetsrätt för chefer",
    "Momsregler i praktiken",
    "Svåra samtal",
    "Bokslut och årsredovisning",
    "Agil planering",
    "GDPR för handläggare",
)
PROGNOSCENTRET_SERVICES = (
    "Konjunkturprognos Sverige (licens)",
    "Regionala prognoser",
    "Branschanalys handel",
    "Seminarieserie Omvärld",
    "Kundwebb Premium",
)
PROGNOSCENTRET_SEMINARS = (
    "Konjunkturdagen",
    "Prognosfrukost i Stockholm",
    "Webbinarium: räntor och inflation",
    "Analysdag för kommuner",
)
PROSPECT_VENDORS = ("Adressleverantören Norden AB (demo)", "Företagsregistret Direkt AB (demo)")
CUSTOMER_MESSAGES = (
    "Hej! Min uppkoppling går ner varje kväll, kan ni se vad det beror på?",
    "Jag vill byta till en snabbare tjänst från nästa månad.",
    "Fakturan för förra månaden verkar vara dubbeldebiterad.",
    "Tack för snabb hjälp med routern!",
    "Kan ni skicka fakturorna via e-post i stället för papper?",
    "Jag har flyttat, här är min nya adress.",
)
COURSE_MESSAGES = (
    "Hej, jag kommer inte åt kursmaterialet i modul 3.",
    "När får jag mitt intyg?",
    "Kan min kollega ta över min plats på kursen?",
    "Tack för en bra utbildning!",
)
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
INTERNAL_NOTES = (
    "Intresserad av regionala prognoser inför budgetarbetet.",
    "Har bytt roll internt, ny kontaktperson för licensen kommer.",
    "Vill bli kontaktad först efter sommaren.",
)
SURVEYS = ("Kundundersökning 2024", "Seminarieutvärdering", "Behovsanalys prognostjänster")
ASSIGNMENTS = (
    "Analys av energiprisernas påverkan på kundens kalkyler.",
    "Workshop om prognosmodeller för efterfrågan.",
    "Utvärdering av prissättningsmodell.",
)


@dataclass
class _Pools:
    first_names: list[str]
    last_names: list[str]
    streets: list[str]
    places: list[tuple[str, str]]  # (postcode, city)
    companies: list[str]

    @classmethod
    def build(cls, seed: int) -> _Pools:
        fake = Faker("sv_SE")
        fake.seed_instance(seed)
        return cls(
            first_names=sorted({fake.first_name() for _ in range(1500)}),
            last_names=sorted({fake.last_name() for _ in range(1500)}),
            streets=sorted({fake.street_address() for _ in range(3000)}),
            places=sorted({(fake.postcode(), fake.city()) for _ in range(800)}),
            companies=sorted({fake.company() for _ in range(1500)}),
        )


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if c.isascii() and (c.isalnum() or c in ".-"))


def _personnummer(rng: random.Random, birth: dt.date) -> str:
    """A personnummer with a valid check digit, normalised (YYYYMMDDNNNC)."""
    serial = f"{rng.randint(0, 999):03d}"
    short = birth.strftime("%y%m%d") + serial
    check = next(str(d) for d in range(10) if luhn_valid(short + str(d)))
    return normalise_personnummer(f"{birth:%Y%m%d}-{serial}{check}")


def _ip_address(rng: random.Random) -> str:
    """An address from the documentation ranges (RFC 5737): nobody's real address."""
    return f"{rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{rng.randint(1, 254)}"


def _password_hash(rng: random.Random) -> str:
    return f"pbkdf2_sha256$870000${rng.getrandbits(64):016x}${rng.getrandbits(192):048x}"


def _phone(rng: random.Random) -> str:
    return normalise_phone(f"07{rng.choice('02369')}-{rng.randint(0, 9999999):07d}")


@dataclass
class _Person:
    organisation: str
    external_id: str
    first: str
    last: str
    email: str
    phone: str | None
    street: str
    postcode: str
    city: str
    birth: dt.date
    employer: str
    job_title: str
    department: str
    personnummer: str | None = None
    customer_number: str | None = None
    _values: dict | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def address(self) -> str:
        return f"{self.street}, {self.postcode} {self.city}"

    def value(self, name: str):
        """The person's value for a common data field, the same in every record."""
        if self._values is None:
            self._values = {
                "name": self.name,
                "customer_name": self.name,
                "email": self.email,
                "phone": self.phone,
                "address": self.address,
                "customer_address": self.address,
                "customer_number": self.customer_number,
                "employer": self.employer,
                "company": self.employer,
                "job_title": self.job_title,
                "department": self.department,
                "username": self.email.split("@")[0],
                "personal_identity_number": (
                    f"{self.personnummer[:8]}-{self.personnummer[8:]}"
                    if self.personnummer
                    else None
                ),
            }
        return self._values[name]

    def identifiers(self) -> list[tuple[str, str]]:
        result = [("email", normalise_email(self.email))]
        if self.phone:
            result.append(("phone", self.phone))
        if self.personnummer:
            result.append(("personnummer", self.personnummer))
        if self.customer_number:
            result.append(("customer_number", normalise_customer_number(self.customer_number)))
        return result


# --------------------------------------------------------------------------
# One organisation's policy, and records built against it
# --------------------------------------------------------------------------


class _Kit:
    """Builds records and disclosures that the organisation's policy allows."""

    def __init__(self, organisation: Organisation, now: dt.datetime):
        self.organisation = organisation
        self.now = now
        self.categories = {c.key: c for c in DataCategory.objects.filter(organisation=organisation)}
        self.purposes: dict[str, tuple[int, set[int]]] = {}
        for pk, key, category_id in Purpose.objects.filter(organisation=organisation).values_list(
            "pk", "key", "categories"
        ):
            self.purposes.setdefault(key, (pk, set()))[1].add(category_id)
        self.recipients = dict(organisation.recipients.values_list("key", "pk"))
        self.rules = {
            pair: rule.pk
            for pair, rule in record_rules_for_organisation(organisation=organisation).items()
        }

    def record(
        self,
        person: _Person,
        row: SubjectRow,
        category: str,
        purpose: str,
        *,
        collected_at: dt.datetime,
        values: dict | None = None,
        source: str = "provided",
        source_detail: str = "",
        **events,
    ) -> RecordRow:
        slug = self.organisation.slug
        if category not in self.categories or purpose not in self.purposes:
            raise DemoError(
                f"{slug}: the policy has no category {category!r} or purpose {purpose!r}"
            )
        cat = self.categories[category]
        purpose_id, purpose_categories = self.purposes[purpose]
        if cat.pk not in purpose_categories:
            raise DemoError(f"{slug}: category {category!r} is not one of purpose {purpose!r}'s")
        values = values or {}
        data = {}
        for name in cat.fields:
            if name in values:
                data[name] = values[name]
                continue
            try:
                data[name] = person.value(name)
            except KeyError:
                raise DemoError(
                    f"{slug}: the demo data has no value for field {name!r} of {category!r}"
                ) from None
        n = sum(1 for r in row.records if r.category_id == cat.pk) + 1
        record = RecordRow(
            external_id=f"{row.external_id}-{category}-{n}",
            category_id=cat.pk,
            purpose_id=purpose_id,
            rule_id=self.rules.get((cat.pk, purpose_id)),
            data=data,
            source=source,
            source_detail=source_detail,
            collected_at=min(collected_at, self.now),
            **events,
        )
        row.records.append(record)
        return record

    def disclose(
        self, row: SubjectRow, recipient: str, record: RecordRow, disclosed_at: dt.datetime
    ) -> None:
        if recipient not in self.recipients:
            raise DemoError(f"{self.organisation.slug}: the policy has no recipient {recipient!r}")
        disclosed_at = min(disclosed_at, self.now)
        row.disclosures.append(
            DisclosureRow(
                # Not from the date: a run on a later day must find the same ids.
                external_id=f"{record.external_id}-to-{recipient}",
                recipient_id=self.recipients[recipient],
                disclosed_at=disclosed_at,
                record=record.external_id,
                category_id=record.category_id,
            )
        )

    def ago(self, rng: random.Random, days: int) -> dt.datetime:
        """`days` days before the anchor, at some minute of that day."""
        return self.now - dt.timedelta(days=days, minutes=rng.randint(0, 1439))


def _date(value: dt.datetime | None) -> str | None:
    return value.astimezone(STOCKHOLM).date().isoformat() if value else None


def _money(amount: float) -> str:
    return f"{amount:.2f}"


def _invoice_values(
    rng: random.Random, number: str, price: int, invoiced: dt.datetime, paid: dt.datetime | None
) -> dict:
    """An invoice with Swedish VAT: 25 % on the net amount, i.e. 20 % of the total."""
    return {
        "invoice_number": number,
        "invoice_date": _date(invoiced),
        "due_date": _date(invoiced + dt.timedelta(days=30)),
        "amount": _money(price),
        "vat": _money(price * 0.2),
        "currency": "SEK",
        "description": "",
        "payment_date": _date(paid),
        "payment_method": rng.choice(("Swish", "kort", "faktura", "autogiro")),
    }


# --------------------------------------------------------------------------
# What each organisation holds about a person
# --------------------------------------------------------------------------


def _framsteget(kit: _Kit, person: _Person, row: SubjectRow, rng: random.Random) -> None:
    since = rng.randint(90, 3000)
    ended_days = rng.randint(1, min(730, since - 60)) if rng.random() < 0.3 else None
    ended = kit.ago(rng, ended_days) if ended_days else None
    plans = rng.sample(FRAMSTEGET_SERVICES, rng.randint(1, 3))
    price = sum(p for _, p in plans)
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
    # Invoices: the latest within the last month of the contract, older ones
    # further back, so some were paid more than 18 months ago.
    day = (ended_days or 0) + rng.randint(0, 30)
    for k in range(rng.randint(1, 4)):
        if day > since:
            break
        invoiced = kit.ago(rng, day)
        unpaid = k == 0 and rng.random() < 0.3
        paid = None if unpaid else min(invoiced + dt.timedelta(days=rng.randint(3, 40)), kit.now)
        values = _invoice_values(rng, f"{row.external_id[5:]}-{k + 1}", price, invoiced, paid)
        values["description"] = ", ".join(name for name, _ in plans)
        invoice = kit.record(
            person,
            row,
            "invoice",
            "billing",
            collected_at=invoiced,
            settled_at=paid,
            values=values,
            source="derived",
        )
        if rng.random() < 0.3:
            kit.disclose(row, "print_processor", invoice, invoiced + dt.timedelta(days=1))
        day += rng.choice((30, 30, 90, 180, 365))
    if not ended:
        for _ in range(rng.randint(1, 3)):
            ip = kit.record(
                person,
                row,
                "ip_address",
                "information_security",
                collected_at=kit.ago(rng, rng.randint(0, 60)),
                values={"ip_address": _ip_address(rng)},
                source="observed",
                source_detail="inloggning",
            )
            if rng.random() < 0.02:
                kit.disclose(row, "law_enforcement", ip, ip.collected_at + dt.timedelta(days=2))
    if rng.random() < 0.3:
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
    if person.personnummer and rng.random() < 0.5:
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
                "credit_check_date": _date(checked),
            },
            source="third_party",
            source_detail="Kreditupplysningsföretag (demo)",
        )
    if rng.random() < 0.5:
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
    if rng.random() < 0.2:
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


def _prokompetens(kit: _Kit, person: _Person, row: SubjectRow, rng: random.Random) -> None:
    start_days = rng.randint(30, 1800)
    start = kit.ago(rng, start_days)
    end = start + dt.timedelta(days=rng.choice((365, 730)))
    ended = end if end < kit.now else None
    name, price = rng.choice(PROKOMPETENS_SUBSCRIPTIONS)
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
            "subscription_start": _date(start),
            "subscription_end": _date(end),
        },
    )
    for k, course in enumerate(rng.sample(PROKOMPETENS_COURSES, rng.randint(1, 3))):
        started = start + dt.timedelta(days=rng.randint(0, 200))
        completed = started + dt.timedelta(days=rng.randint(7, 90))
        done = completed < min(kit.now, end) and rng.random() < 0.8
        progress = kit.record(
            person,
            row,
            "course_progress",
            "course_access",
            collected_at=started,
            contract_ended_at=ended,
            values={
                "course": course,
                "started": _date(started),
                "completed": _date(completed) if done else None,
                "test_result": f"{rng.randint(55, 100)} %" if done else None,
                "certificate": f"INTYG-{row.external_id[5:]}-{k + 1}" if done else None,
            },
        )
        if rng.random() < 0.5:
            kit.disclose(row, "employer", progress, progress.collected_at + dt.timedelta(days=30))
    if rng.random() < 0.4:
        paid = min(start + dt.timedelta(days=rng.randint(5, 30)), kit.now)
        values = _invoice_values(rng, f"PK{row.external_id[-6:]}", price, start, paid)
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


def _coachen(kit: _Kit, person: _Person, row: SubjectRow, rng: random.Random) -> None:
    if person.customer_number is None:
        # Someone who asked about coaching but never signed: 3 months from last contact.
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
        return
    since = rng.randint(100, 3650)
    ended = kit.ago(rng, rng.randint(30, since - 60)) if rng.random() < 0.6 else None
    start = kit.ago(rng, since)
    kit.record(person, row, "contact", "contract", collected_at=start, contract_ended_at=ended)
    if person.personnummer:
        kit.record(person, row, "identity", "contract", collected_at=start, contract_ended_at=ended)
    for k in range(rng.randint(1, 3)):
        invoiced = start + dt.timedelta(days=30 * k)
        paid = min(invoiced + dt.timedelta(days=rng.randint(1, 20)), kit.now)
        values = _invoice_values(
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
                "recorded_at": _date(recorded),
            },
        )
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
                "ip_address": _ip_address(rng),
                "cookie_id": f"{rng.getrandbits(64):016x}",
            },
        )
    if rng.random() < 0.05:
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
                "phone": _phone(rng),
                "role": rng.choice(("god man", "förmyndare", "ombud")),
                "represented_party": person.name,
            },
        )


def _prognoscentret(kit: _Kit, person: _Person, row: SubjectRow, rng: random.Random) -> None:
    if person.customer_number is None:
        # A prospect bought from an address vendor.
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
        return
    since = rng.randint(60, 2500)
    start = kit.ago(rng, since)
    ended = kit.ago(rng, rng.randint(0, since - 30)) if rng.random() < 0.25 else None
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
            "purchased_service": rng.choice(PROGNOSCENTRET_SERVICES),
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
    if rng.random() < 0.4:
        kit.record(
            person,
            row,
            "course_attendance",
            "contract",
            collected_at=kit.ago(rng, rng.randint(0, since)),
            purpose_ended_at=ended,
            values={
                "course": rng.choice(PROGNOSCENTRET_SEMINARS),
                "attendance": rng.choice(("deltog", "anmäld, uteblev")),
            },
        )
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
    if rng.random() < 0.5:
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
                    _date(kit.ago(rng, rng.randint(0, 90))) for _ in range(rng.randint(1, 4))
                ],
                "download_history": rng.sample(
                    ("Prognos Q1.pdf", "Prognos Q3.pdf", "Regionrapport.xlsx"), rng.randint(0, 2)
                ),
            },
        )
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


def _expektra(kit: _Kit, person: _Person, row: SubjectRow, rng: random.Random) -> None:
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
                "password_hash": _password_hash(rng),
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


SCENARIOS: dict[str, Callable[[_Kit, _Person, SubjectRow, random.Random], None]] = {
    "prognoscentret": _prognoscentret,
    "prokompetens": _prokompetens,
    "coachen": _coachen,
    "framsteget": _framsteget,
    "expektra": _expektra,
}
# Share of subjects that are (or were) customers and so have a customer number.
CUSTOMER_SHARE = {
    "prognoscentret": 0.6,
    "prokompetens": 1.0,
    "coachen": 0.65,
    "framsteget": 1.0,
    "expektra": 1.0,
}


def _person(pools: _Pools, rng: random.Random, slug: str, n: int, index: int) -> _Person:
    first = rng.choice(pools.first_names)
    last = rng.choice(pools.last_names)
    postcode, city = rng.choice(pools.places)
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randint(0, 54 * 365))
    is_customer = rng.random() < CUSTOMER_SHARE[slug]
    return _Person(
        organisation=slug,
        external_id=f"demo-{slug}-{n}",
        first=first,
        last=last,
        email=f"{_ascii(first)}.{_ascii(last)}.{index}@{rng.choice(EMAIL_DOMAINS)}",
        phone=_phone(rng) if rng.random() < 0.6 else None,
        street=rng.choice(pools.streets),
        postcode=postcode,
        city=city,
        birth=birth,
        employer=rng.choice(pools.companies),
        job_title=rng.choice(JOB_TITLES),
        department=rng.choice(DEPARTMENTS),
        personnummer=_personnummer(rng, birth) if rng.random() < 0.4 else None,
        customer_number=f"{CUSTOMER_NUMBER_PREFIX[slug]}-{100000 + n}" if is_customer else None,
    )


# --------------------------------------------------------------------------
# The fixed demo people
# --------------------------------------------------------------------------


def _fixed_people(kits: dict[str, _Kit]) -> list[SubjectRow]:
    rng = random.Random(0)  # only for fields nobody asserts on  # noqa: S311
    rows = []
    for demo in FIXED_PEOPLE:
        kit = kits[demo.organisation]
        first, last = demo.name.split()
        person = _Person(
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
        person.personnummer = _personnummer(random.Random(demo.email), person.birth)  # noqa: S311
        if demo.organisation == "prognoscentret":
            person.customer_number = None
        row = SubjectRow(organisation_id=kit.organisation.pk, external_id=demo.external_id)
        FIXED_SCENARIOS[demo.organisation](kit, person, row, rng)
        row.identifiers = person.identifiers()
        rows.append(row)
    return rows


def _anna(kit: _Kit, person: _Person, row: SubjectRow, rng: random.Random) -> None:
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
    for number, invoiced_days, paid_days in (
        ("1001", 640, 610),
        ("1002", 75, 60),
        ("1003", 40, None),
    ):
        invoiced = kit.now - dt.timedelta(days=invoiced_days)
        paid = kit.now - dt.timedelta(days=paid_days) if paid_days else None
        values = _invoice_values(rng, f"ANNA-{number}", 399, invoiced, paid)
        values["description"] = "Bredband 250/250"
        invoice = kit.record(
            person,
            row,
            "invoice",
            "billing",
            collected_at=invoiced,
            settled_at=paid,
            values=values,
            source="derived",
        )
        if number == "1002":
            kit.disclose(row, "print_processor", invoice, invoiced + dt.timedelta(days=1))
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


def _erik(kit: _Kit, person: _Person, row: SubjectRow, rng: random.Random) -> None:
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
    values = _invoice_values(rng, "CO-ERIK-1", 4500, start, paid)
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


def _maria(kit: _Kit, person: _Person, row: SubjectRow, rng: random.Random) -> None:
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
            "subscription_start": _date(start),
            "subscription_end": _date(end),
        },
    )
    for k, (course, result) in enumerate(
        (("Svåra samtal", "92 %"), ("Arbetsrätt för chefer", "74 %"))
    ):
        started = start + dt.timedelta(days=30 + 60 * k)
        progress = kit.record(
            person,
            row,
            "course_progress",
            "course_access",
            collected_at=started,
            contract_ended_at=end,
            values={
                "course": course,
                "started": _date(started),
                "completed": _date(started + dt.timedelta(days=21)),
                "test_result": result,
                "certificate": f"INTYG-MARIA-{k + 1}" if k == 0 else None,
            },
        )
        kit.disclose(row, "employer", progress, started + dt.timedelta(days=30))
    values = _invoice_values(rng, "PK-MARIA-1", 7900, start, start + dt.timedelta(days=14))
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


def _johan(kit: _Kit, person: _Person, row: SubjectRow, rng: random.Random) -> None:
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


def _sara(kit: _Kit, person: _Person, row: SubjectRow, rng: random.Random) -> None:
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


FIXED_SCENARIOS = {
    "framsteget": _anna,
    "coachen": _erik,
    "prokompetens": _maria,
    "prognoscentret": _johan,
    "expektra": _sara,
}


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
    organisations = {o.slug: o for o in Organisation.objects.filter(slug__in=ORGANISATION_SLUGS)}
    missing = sorted(set(ORGANISATION_SLUGS) - set(organisations))
    if missing:
        raise DemoError(
            f"Organisations not loaded: {', '.join(missing)}. Run `manage.py load_policies` first."
        )
    now = _anchor(today)
    kits = {slug: _Kit(organisations[slug], now) for slug in ORGANISATION_SLUGS}
    pools = _Pools.build(seed)
    result = SeedResult(subjects=subjects, per_organisation=dict.fromkeys(ORGANISATION_SLUGS, 0))
    org_ids = {slug: organisation.pk for slug, organisation in organisations.items()}

    fixed = [(org_ids[p.organisation], p.external_id) for p in FIXED_PEOPLE]
    existing = _existing(fixed)
    _write([row for row in _fixed_people(kits) if row.external_id not in existing], result)
    result.subjects_existing += len(existing)

    for chunk_start in range(0, subjects, chunk_size):
        planned = []
        for index in range(chunk_start, min(chunk_start + chunk_size, subjects)):
            slug = ORGANISATION_SLUGS[index % len(ORGANISATION_SLUGS)]
            n = index // len(ORGANISATION_SLUGS) + 1
            planned.append((index, slug, n, f"demo-{slug}-{n}"))
            result.per_organisation[slug] += 1
        existing = _existing([(org_ids[slug], ext) for _, slug, _, ext in planned])
        result.subjects_existing += len(existing)
        rows = []
        for index, slug, n, external_id in planned:
            if external_id in existing:
                continue
            # One generator per subject: subject n is the same whatever N is.
            rng = random.Random(f"{seed}:{slug}:{n}")  # noqa: S311 - demo data, not secrets
            person = _person(pools, rng, slug, n, index + 1)
            row = SubjectRow(organisation_id=org_ids[slug], external_id=external_id)
            SCENARIOS[slug](kits[slug], person, row, rng)
            row.identifiers = person.identifiers()
            rows.append(row)
        _write(rows, result)
        if progress:
            progress(planned[-1][0] + 1)
    for organisation in organisations.values():
        records_refresh(organisation=organisation)
    result.seconds = time.monotonic() - started
    log_action(
        action="retention.demo.seeded",
        data={
            "subjects": subjects,
            "seed": seed,
            "subjects_existing": result.subjects_existing,
            **vars(result.counts),
        },
    )
    return result


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
