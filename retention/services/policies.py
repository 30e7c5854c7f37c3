"""Loading the organisations' policy files into the record store.

The schema is documented in `retention/policies/README.md`. Every file is
validated completely before anything is written; all files are then written
in one transaction, so a malformed file leaves the database as it was.
Loading the same files twice changes nothing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import translation

from retention.audit import log_action
from retention.models import (
    DataCategory,
    LegalBasis,
    Organisation,
    Purpose,
    Recipient,
    RetentionRule,
)
from retention.services.expiry import records_refresh
from retention.services.policy_check import Finding, errors_of, policy_check, warnings_of

POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"

KEY_RE = re.compile(r"^[a-z0-9_]+$")
SLUG_RE = re.compile(r"^[a-z0-9-]+$")
RIGHTS = {
    "access",
    "rectification",
    "erasure",
    "restriction",
    "objection",
    "portability",
    "consent_withdrawal",
    "direct_marketing_objection",
    "complaint",
    "notification_of_recipients",
}
UNITS = {u.value for u in RetentionRule.Unit}
STARTS = {s.value for s in RetentionRule.StartEvent}
ACTIONS = {a.value for a in RetentionRule.Action}
BASES = {b.value for b in LegalBasis}
RECIPIENT_KINDS = {k.value for k in Recipient.Kind}


def is_period(value) -> bool:
    """`{years: 3}`: exactly one of days/weeks/months/years, a positive int."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    unit, amount = next(iter(value.items()))
    return unit in UNITS and type(amount) is int and amount > 0


class PolicyError(Exception):
    """A policy file is malformed; the message names the file, the entry and the problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class _Checker:
    file: str
    problems: list[str] = field(default_factory=list)

    def fail(self, entry: str, message: str) -> None:
        self.problems.append(f"{self.file}: {entry}: {message}")

    def mapping(self, value, entry: str) -> dict:
        if not isinstance(value, dict):
            self.fail(entry, "must be a mapping")
            return {}
        return value

    def text(self, data: dict, name: str, entry: str, *, required=True, maxlen=2000) -> str:
        value = data.get(name)
        if value is None or value == "":
            if required:
                self.fail(entry, f"'{name}' is required")
            return ""
        if not isinstance(value, str):
            self.fail(entry, f"'{name}' must be text")
            return ""
        if len(value) > maxlen:
            self.fail(entry, f"'{name}' is longer than {maxlen} characters")
        return value

    def email(self, data: dict, name: str, entry: str, *, required=True) -> str:
        value = self.text(data, name, entry, required=required, maxlen=254)
        if value:
            try:
                validate_email(value)
            except ValidationError:
                self.fail(entry, f"'{name}' is not a valid e-mail address: {value!r}")
        return value

    def names(self, data: dict, name: str, entry: str) -> dict:
        value = data.get(name)
        if not isinstance(value, dict) or not all(
            isinstance(value.get(lang), str) and value.get(lang) for lang in ("sv", "en")
        ):
            self.fail(entry, f"'{name}' needs non-empty 'sv' and 'en' texts")
            return {"sv": "", "en": ""}
        return value

    def key_list(self, data: dict, name: str, entry: str, known: set[str]) -> list[str]:
        value = data.get(name) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(entry, f"'{name}' must be a list of keys")
            return []
        for item in value:
            if item not in known:
                self.fail(entry, f"'{name}' refers to unknown key {item!r}")
        return value

    def entries(self, doc: dict, section: str) -> list[tuple[str, dict]]:
        items = doc.get(section)
        if not isinstance(items, list) or not items:
            self.fail(section, "must be a non-empty list")
            return []
        result, seen = [], set()
        for index, item in enumerate(items):
            item = self.mapping(item, f"{section}[{index}]")
            key = item.get("key") if section != "rights" else item.get("right")
            label = f"{section}[{index}]" + (f" ({key})" if isinstance(key, str) else "")
            if section != "rights":
                if not isinstance(key, str) or not KEY_RE.match(key):
                    self.fail(label, "'key' must match [a-z0-9_]+")
                elif key in seen:
                    self.fail(label, f"duplicate key {key!r}")
                seen.add(key)
            result.append((label, item))
        return result


def _validate(path: Path, doc) -> dict:
    """Check one parsed file; return it normalised or raise PolicyError."""
    c = _Checker(path.name)
    doc = c.mapping(doc, "file")
    org = _validate_organisation(c, doc, path)
    _validate_request_retention(c, org)
    categories = c.entries(doc, "categories")
    category_keys = {item.get("key") for _, item in categories}
    _validate_categories(c, categories)
    recipient_keys = _validate_recipients(c, doc)
    rules = c.entries(doc, "retention_rules")
    _validate_rules(c, rules, category_keys)
    rule_keys = {item.get("key") for _, item in rules}
    purposes = c.entries(doc, "purposes")
    _validate_purposes(c, purposes, category_keys, recipient_keys, rule_keys)
    for label, item in c.entries(doc, "rights"):
        if item.get("right") not in RIGHTS:
            c.fail(label, f"'right' must be one of {sorted(RIGHTS)}")
        c.text(item, "quote", label, maxlen=4000)

    _validate_law(c, org, categories, rules, purposes)

    if c.problems:
        raise PolicyError(c.problems)
    return doc


def _validate_organisation(c: _Checker, doc: dict, path: Path) -> dict:
    org = c.mapping(doc.get("organisation"), "organisation")
    slug = c.text(org, "slug", "organisation", maxlen=50)
    if slug and (not SLUG_RE.match(slug) or slug != path.stem):
        c.fail("organisation", f"'slug' must match [a-z0-9-]+ and the file name ({path.stem})")
    for name in ("legal_name", "display_name"):
        c.text(org, name, "organisation", maxlen=200)
    c.email(org, "contact_email", "organisation")
    if org.get("dpo") is not None:
        dpo = c.mapping(org["dpo"], "organisation.dpo")
        c.text(dpo, "name", "organisation.dpo", maxlen=200)
        c.email(dpo, "email", "organisation.dpo")
    if org.get("default_language", "sv") not in ("sv", "en"):
        c.fail("organisation", "'default_language' must be sv or en")
    try:
        ZoneInfo(str(org.get("time_zone", "Europe/Stockholm")))
    except (ZoneInfoNotFoundError, ValueError):
        c.fail("organisation", f"unknown 'time_zone' {org.get('time_zone')!r}")
    return org


def _validate_categories(c: _Checker, categories: list) -> None:
    for label, item in categories:
        c.names(item, "name", label)
        if not isinstance(item.get("special", False), bool):
            c.fail(label, "'special' must be true or false")
        fields = item.get("fields")
        if not isinstance(fields, list) or not fields:
            c.fail(label, "'fields' must be a non-empty list of data keys")


def _validate_recipients(c: _Checker, doc: dict) -> set:
    """Check the recipients; return their keys."""
    recipients = c.entries(doc, "recipients") if doc.get("recipients") else []
    recipient_keys = {item.get("key") for _, item in recipients}
    for label, item in recipients:
        c.names(item, "name", label)
        if item.get("kind") not in RECIPIENT_KINDS:
            c.fail(label, f"'kind' must be one of {sorted(RECIPIENT_KINDS)}")
        c.email(item, "contact_email", label)
        country = item.get("country", "SE")
        if not (isinstance(country, str) and re.fullmatch(r"[A-Z]{2}", country)):
            c.fail(label, "'country' must be a two-letter ISO code")
    return recipient_keys


def _validate_rules(c: _Checker, rules: list, category_keys: set) -> None:
    rule_keys = {item.get("key") for _, item in rules}
    for label, item in rules:
        c.names(item, "name", label)
        c.text(item, "quote", label, maxlen=4000)
        start = item.get("starts")
        action = item.get("action")
        if start not in STARTS:
            c.fail(label, f"'starts' must be one of {sorted(STARTS)}")
        if action not in ACTIONS:
            c.fail(label, f"'action' must be one of {sorted(ACTIONS)}")
        period = item.get("period")
        if period is None:
            if start != "relationship" and action != "keep":
                c.fail(
                    label, "'period' is required unless starts is relationship or action is keep"
                )
        elif not is_period(period):
            c.fail(
                label, "'period' must have exactly one of days/weeks/months/years: a positive int"
            )
        if action == "anonymise" and not item.get("anonymise_fields"):
            c.fail(label, "'anonymise_fields' is required when action is anonymise")
        if item.get("legal_basis") not in (None, *BASES):
            c.fail(label, f"'legal_basis' must be one of {sorted(BASES)}")
        c.key_list(item, "overrides", label, rule_keys)
        applies = item.get("applies_to") or {}
        c.key_list(c.mapping(applies, label), "categories", label, category_keys)


def _validate_purposes(
    c: _Checker, purposes: list, category_keys: set, recipient_keys: set, rule_keys: set
) -> None:
    for label, item in purposes:
        c.names(item, "name", label)
        if item.get("legal_basis") not in BASES:
            c.fail(label, f"'legal_basis' must be one of {sorted(BASES)}")
        if not isinstance(item.get("direct_marketing", False), bool):
            c.fail(label, "'direct_marketing' must be true or false")
        if not c.key_list(item, "categories", label, category_keys):
            c.fail(label, "'categories' must name at least one category")
        c.key_list(item, "recipients", label, recipient_keys)
        if item.get("retention_rule") not in rule_keys:
            c.fail(label, f"'retention_rule' refers to unknown rule {item.get('retention_rule')!r}")


ART9_CONDITIONS = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
DAYS_IN_MONTH = dict(enumerate((31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31), start=1))


def financial_year_end_parse(value) -> tuple[int, int] | None:
    """ "MM-DD", the last day of a month (a Swedish financial year is twelve whole months,
    Bokföringslagen 3 kap. 1 §; 02-28 and 02-29 both mean the end of February); else None."""
    if not isinstance(value, str) or not re.fullmatch(r"\d\d-\d\d", value):
        return None
    month, day = int(value[:2]), int(value[3:])
    if month not in DAYS_IN_MONTH or day != DAYS_IN_MONTH[month] and (month, day) != (2, 28):
        return None
    return month, day


def _validate_law(c: _Checker, org: dict, categories, rules, purposes) -> None:
    """The keys of issue 13: the financial year, Art. 9(2) conditions, cited laws."""
    if "financial_year_end" in org and financial_year_end_parse(org["financial_year_end"]) is None:
        c.fail(
            "organisation",
            '\'financial_year_end\' must be "MM-DD", the last day of a month (e.g. "06-30")',
        )
    for label, item in categories:
        condition = item.get("art9_condition")
        if condition is not None:
            if condition not in ART9_CONDITIONS:
                c.fail(label, "'art9_condition' must be one of a-j (the point of Art. 9(2))")
            if not item.get("special"):
                c.fail(label, "'art9_condition' applies only to special categories")
    for label, item in rules:
        for name in ("end_of_calendar_year", "end_of_financial_year"):
            if not isinstance(item.get(name, False), bool):
                c.fail(label, f"'{name}' must be true or false")
        if item.get("end_of_calendar_year") and item.get("end_of_financial_year"):
            c.fail(label, "use one of 'end_of_calendar_year' and 'end_of_financial_year'")
        c.text(item, "law", label, required=False, maxlen=300)
        fields = item.get("fields")
        if fields is not None and (
            not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)
        ):
            c.fail(label, "'fields' must be a list of data keys")
    for label, item in purposes:
        c.text(item, "law", label, required=False, maxlen=300)


# --- How long the portal keeps the organisation's requests (`organisation.request_retention`) ---

# Art. 5(2): the controller must be able to show it answered every request (Art. 12); Art.
# 5(1)(e): no longer than needed. Three years after closure unless the policy file says
# otherwise; then the request is anonymised to statistics (requests_app.services.anonymisation).
REQUEST_RETENTION_DEFAULT = ("years", 3)
REQUEST_RETENTION_MAX_YEARS = 10


def _validate_request_retention(c: _Checker, org: dict) -> None:
    """`request_retention: {years: 3}`: one of days/weeks/months/years, at most ten years."""
    value = org.get("request_retention")
    if value is None:
        return
    entry = "organisation.request_retention"
    if not is_period(value):
        c.fail(entry, "must have exactly one of days/weeks/months/years: a positive int")
        return
    unit, amount = next(iter(value.items()))
    years = REQUEST_RETENTION_MAX_YEARS
    if amount > {"days": years * 365 + 3, "weeks": years * 52, "months": years * 12}.get(
        unit, years
    ):
        c.fail(entry, f"must be at most {REQUEST_RETENTION_MAX_YEARS} years (Art. 5(1)(e))")


def request_retention_period(*, organisation: Organisation) -> tuple[str, int]:
    """(unit, amount) the organisation's closed requests are kept, from its loaded policy."""
    value = ((organisation.policy or {}).get("organisation") or {}).get("request_retention")
    return next(iter(value.items())) if is_period(value) else REQUEST_RETENTION_DEFAULT


def policy_parse(path: Path) -> dict:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([f"{path.name}: file: cannot be read ({exc})"]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "file"
        raise PolicyError([f"{path.name}: {where}: not valid YAML ({exc})"]) from exc
    return _validate(path, doc)


def policy_check_file(path: Path) -> tuple[dict | None, list[Finding], list[str]]:
    """Parse, validate and check one file: (document, findings, problems).

    `problems` are the malformed-file messages (then there is no document and no
    findings); the findings' errors also keep the file from loading.
    """
    try:
        doc = policy_parse(path)
    except PolicyError as exc:
        return None, [], exc.problems
    return doc, policy_check(path=path, doc=doc), []


@dataclass
class LoadResult:
    slug: str
    created: bool
    changed: bool
    gaps: list[Finding] = field(default_factory=list)


def policies_load(*, paths: list[Path] | None = None) -> list[LoadResult]:
    """Validate every file, then load them all in one transaction."""
    paths = sorted(paths if paths is not None else POLICY_DIR.glob("*.yaml"))
    parsed, problems = [], []
    for path in paths:
        doc, findings, malformed = policy_check_file(path)
        problems.extend(malformed)
        with translation.override("en"):  # like the shape errors: for whoever runs the load
            problems.extend(str(f) for f in errors_of(findings))
        if doc is not None:
            parsed.append((path, doc, warnings_of(findings)))
    if problems:
        raise PolicyError(problems)
    results = []
    with transaction.atomic():
        for path, doc, gaps in parsed:
            try:
                result = _load_one(path, doc)
                result.gaps = gaps
                _gaps_store(slug=result.slug, gaps=gaps)
                results.append(result)
            except ProtectedError as exc:
                raise PolicyError(
                    [
                        f"{path.name}: file: an entry removed from the file is still used by "
                        f"{len(exc.protected_objects)} record(s) or purpose(s); nothing was loaded"
                    ]
                ) from exc
    return results


def _load_one(path: Path, doc: dict) -> LoadResult:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    o = doc["organisation"]
    org, created = Organisation.objects.select_for_update().get_or_create(
        slug=o["slug"],
        defaults={"legal_name": o["legal_name"], "display_name": o["display_name"]},
    )
    if not created and org.policy_sha256 == digest:
        return LoadResult(slug=org.slug, created=False, changed=False)

    for name, value in _organisation_values(doc, digest).items():
        setattr(org, name, value)
    org.save()

    categories = _categories_load(org, doc)
    recipients = _recipients_load(org, doc)
    rules = _rules_load(org, doc, categories)
    _purposes_load(org, doc, categories, recipients, rules)

    # Entries that left the file go, unless records still point at them
    # (PROTECT turns that into an error and the whole load rolls back).
    Purpose.objects.filter(organisation=org).exclude(
        key__in=[p["key"] for p in doc["purposes"]]
    ).delete()
    RetentionRule.objects.filter(organisation=org).exclude(key__in=rules).delete()
    Recipient.objects.filter(organisation=org).exclude(key__in=recipients).delete()
    DataCategory.objects.filter(organisation=org).exclude(key__in=categories).delete()

    # A changed rule changes expiries: recompute them all, in one statement.
    refreshed = records_refresh(organisation=org)
    log_action(
        action="retention.policy.loaded",
        organisation=org,
        object_type="organisation",
        object_id=org.pk,
        data={"sha256": digest, "created": created, "records_refreshed": refreshed},
    )
    return LoadResult(slug=org.slug, created=created, changed=True)


def _organisation_values(doc: dict, digest: str) -> dict:
    """The organisation's fields from its policy file."""
    o = doc["organisation"]
    dpo = o.get("dpo") or {}
    authority = o.get("supervisory_authority") or {}
    return {
        "legal_name": o["legal_name"],
        "display_name": o["display_name"],
        "org_number": o.get("org_number") or "",
        "contact_email": o["contact_email"],
        "postal_address": o.get("postal_address") or "",
        "phone": o.get("phone") or "",
        "dpo_name": dpo.get("name") or "",
        "dpo_email": dpo.get("email") or "",
        "supervisory_authority_name": authority.get("name") or "Integritetsskyddsmyndigheten (IMY)",
        "supervisory_authority_url": authority.get("url") or "https://www.imy.se",
        "supervisory_authority_email": authority.get("email") or "imy@imy.se",
        "privacy_policy_url": o.get("privacy_policy_url") or "",
        "default_language": o.get("default_language", "sv"),
        "time_zone": o.get("time_zone", "Europe/Stockholm"),
        "financial_year_end": o.get("financial_year_end") or "12-31",
        "policy": doc,
        "policy_sha256": digest,
    }


def _categories_load(org: Organisation, doc: dict) -> dict:
    categories = {}
    for item in doc["categories"]:
        categories[item["key"]], _ = DataCategory.objects.update_or_create(
            organisation=org,
            key=item["key"],
            defaults={
                "name_sv": item["name"]["sv"],
                "name_en": item["name"]["en"],
                "special": item.get("special", False),
                "fields": item["fields"],
                "quote": item.get("quote") or "",
            },
        )
    return categories


def _recipients_load(org: Organisation, doc: dict) -> dict:
    recipients = {}
    for item in doc.get("recipients") or []:
        recipients[item["key"]], _ = Recipient.objects.update_or_create(
            organisation=org,
            key=item["key"],
            defaults={
                "name_sv": item["name"]["sv"],
                "name_en": item["name"]["en"],
                "kind": item["kind"],
                "contact_email": item["contact_email"],
                "country": item.get("country", "SE"),
                "quote": item.get("quote") or "",
            },
        )
    return recipients


def _rules_load(org: Organisation, doc: dict, categories: dict) -> dict:
    rules = {}
    for item in doc["retention_rules"]:
        period = item.get("period") or {}
        unit, value = next(iter(period.items())) if period else ("", None)
        rules[item["key"]], _ = RetentionRule.objects.update_or_create(
            organisation=org,
            key=item["key"],
            defaults={
                "name_sv": item["name"]["sv"],
                "name_en": item["name"]["en"],
                "period_value": value,
                "period_unit": unit,
                "start_event": item["starts"],
                "end_of_calendar_year": bool(item.get("end_of_calendar_year", False)),
                "end_of_financial_year": bool(item.get("end_of_financial_year", False)),
                "action": item["action"],
                "anonymise_fields": item.get("anonymise_fields") or [],
                "fields": item.get("fields") or [],
                "legal_basis": item.get("legal_basis") or "",
                "quote": item["quote"],
                "reading": item.get("reading") or "",
            },
        )
    for item in doc["retention_rules"]:
        rule = rules[item["key"]]
        rule.overrides.set([rules[k] for k in item.get("overrides") or []])
        applies = (item.get("applies_to") or {}).get("categories") or []
        rule.applies_to_categories.set([categories[k] for k in applies])
    return rules


def _purposes_load(org, doc: dict, categories: dict, recipients: dict, rules: dict) -> None:
    for item in doc["purposes"]:
        purpose, _ = Purpose.objects.update_or_create(
            organisation=org,
            key=item["key"],
            defaults={
                "name_sv": item["name"]["sv"],
                "name_en": item["name"]["en"],
                "description_sv": (item.get("description") or {}).get("sv", ""),
                "description_en": (item.get("description") or {}).get("en", ""),
                "legal_basis": item["legal_basis"],
                "direct_marketing": item.get("direct_marketing", False),
                "retention_rule": rules[item["retention_rule"]],
                "quote": item.get("quote") or "",
            },
        )
        purpose.categories.set([categories[k] for k in item["categories"]])
        purpose.recipients.set([recipients[k] for k in item.get("recipients") or []])


def _gaps_store(*, slug: str, gaps: list[Finding]) -> None:
    """Store the checker's warnings on the organisation (also when the file is unchanged:
    a newer checker may find more); written only when they differ."""
    stored = [gap.as_gap() for gap in gaps]
    Organisation.objects.filter(slug=slug).exclude(policy_gaps=stored).update(policy_gaps=stored)
