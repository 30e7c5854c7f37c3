"""What every organisation's demo data is built from: pools, people, the policy kit.

`Pools` holds Swedish names, places and companies drawn once from
Faker('sv_SE'); `Person` is one generated person with the values that are the
same in every record; `Kit` builds records and disclosures that one
organisation's loaded policy allows (the category is one of the purpose's,
the data holds exactly the category's `fields`, the rule comes from the same
resolver as imported records).
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from faker import Faker

from retention.identifiers import (
    luhn_valid,
    normalise_customer_number,
    normalise_email,
    normalise_personnummer,
    normalise_phone,
)
from retention.models import DataCategory, Organisation, Purpose
from retention.services.records import (
    DisclosureRow,
    RecordRow,
    SubjectRow,
    record_rules_for_organisation,
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


class DemoError(Exception):
    """The demo data cannot be generated (e.g. the policies are not loaded)."""


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


@dataclass
class Pools:
    first_names: list[str]
    last_names: list[str]
    streets: list[str]
    places: list[tuple[str, str]]  # (postcode, city)
    companies: list[str]

    @classmethod
    def build(cls, seed: int) -> Pools:
        fake = Faker("sv_SE")
        fake.seed_instance(seed)
        return cls(
            first_names=sorted({fake.first_name() for _ in range(1500)}),
            last_names=sorted({fake.last_name() for _ in range(1500)}),
            streets=sorted({fake.street_address() for _ in range(3000)}),
            places=sorted({(fake.postcode(), fake.city()) for _ in range(800)}),
            companies=sorted({fake.company() for _ in range(1500)}),
        )


def ascii_name(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if c.isascii() and (c.isalnum() or c in ".-"))


def random_personnummer(rng: random.Random, birth: dt.date) -> str:
    """A personnummer with a valid check digit, normalised (YYYYMMDDNNNC)."""
    serial = f"{rng.randint(0, 999):03d}"
    short = birth.strftime("%y%m%d") + serial
    check = next(str(d) for d in range(10) if luhn_valid(short + str(d)))
    return normalise_personnummer(f"{birth:%Y%m%d}-{serial}{check}")


def random_ip_address(rng: random.Random) -> str:
    """An address from the documentation ranges (RFC 5737): nobody's real address."""
    return f"{rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{rng.randint(1, 254)}"


def random_password_hash(rng: random.Random) -> str:
    return f"pbkdf2_sha256$870000${rng.getrandbits(64):016x}${rng.getrandbits(192):048x}"


def random_phone(rng: random.Random) -> str:
    return normalise_phone(f"07{rng.choice('02369')}-{rng.randint(0, 9999999):07d}")


@dataclass
class Person:
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


class Kit:
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
        person: Person,
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


def iso_date(value: dt.datetime | None) -> str | None:
    return value.astimezone(STOCKHOLM).date().isoformat() if value else None


def money(amount: float) -> str:
    return f"{amount:.2f}"


def invoice_values(
    rng: random.Random, number: str, price: int, invoiced: dt.datetime, paid: dt.datetime | None
) -> dict:
    """An invoice with Swedish VAT: 25 % on the net amount, i.e. 20 % of the total."""
    return {
        "invoice_number": number,
        "invoice_date": iso_date(invoiced),
        "due_date": iso_date(invoiced + dt.timedelta(days=30)),
        "amount": money(price),
        "vat": money(price * 0.2),
        "currency": "SEK",
        "description": "",
        "payment_date": iso_date(paid),
        "payment_method": rng.choice(("Swish", "kort", "faktura", "autogiro")),
    }
