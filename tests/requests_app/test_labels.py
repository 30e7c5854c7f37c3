"""Every key and value a person or staff member reads has a Swedish and an English label.

The request details of every kind (`requests_app.public.forms` writes them), the fields of the
five policy files, and the pages that show them: the staff request page and the access
report. One helper labels them all (`requests_app.labels`, filters in `{% load labels %}`).
"""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

import pytest
import yaml
from django.http import QueryDict
from django.utils import translation
from django.utils.translation import trans_real

from requests_app import labels
from requests_app.models import RequestKind
from requests_app.public.forms import COMMON_FIELDS, FORMS
from requests_app.services import packages
from retention.field_labels import FIELD_LABELS
from retention.models import DataSubject, Record
from tests.requests_app.helpers import (
    COLLECTED,
    approved_request,
    make_request,
    make_subject_with_records,
    package_json,
    package_zip,
    signed_in,
)

POLICY_DIR = Path(__file__).resolve().parents[2] / "retention" / "policies"
SEEDS = ["coachen", "expektra", "framsteget", "prognoscentret", "prokompetens"]

# Every field of every form filled in, so that every detail key is written.
FULL = {
    RequestKind.ACCESS: {"categories": ["contact", "orders"], "format": "csv"},
    RequestKind.RECTIFICATION: {
        "corrections-TOTAL_FORMS": "2",
        "corrections-INITIAL_FORMS": "0",
        "corrections-0-wrong": "Efternamn Svensson",
        "corrections-0-correct": "Efternamn Svensén",
        "corrections-1-wrong": "Gatan 1",
        "corrections-1-correct": "Gatan 2",
        "statement": "Jag har bytt adress.",
    },
    RequestKind.ERASURE: {"scope": "categories", "categories": ["orders"], "ground": "b"},
    RequestKind.RESTRICTION: {"ground": "a", "scope": "all"},
    RequestKind.OBJECTION: {
        "direct_marketing": "on",
        "purposes": ["analytics"],
        "grounds": "Min situation.",
    },
    RequestKind.PORTABILITY: {"format": "json"},
    RequestKind.CONSENT_WITHDRAWAL: {"purposes": ["newsletter"]},
}
PERSON = {"full_name": "Anna Andersson", "email": "anna@example.org", "language": "sv"}
PYTHON_VALUES = re.compile(r"\[|\]|\{|\}|\bTrue\b|\bFalse\b|\bNone\b|'")


def details_of(org, kind: str) -> dict:
    data = QueryDict(mutable=True)
    for name, value in {**PERSON, **FULL[kind], "details": "Skynda på."}.items():
        data.setlist(name, value if isinstance(value, list) else [value])
    form = FORMS[kind](data, organisation=org)
    assert form.is_valid(), form.errors
    return form.type_details()


def swedish(context: str, msgid: str) -> str | None:
    """The Swedish translation in the compiled catalogue, or None when there is none."""
    catalog = trans_real.translation("sv")._catalog
    return catalog.get(f"{context}\x04{msgid}" if context else msgid)


def in_both_languages(label, context: str) -> tuple[str, str]:
    with translation.override("en"):
        english = str(label)
    with translation.override("sv"):
        svenska = str(label)
    assert english and svenska
    assert swedish(context, english) == svenska, f"no Swedish for {english!r}"
    return english, svenska


# --- The labels exist ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", RequestKind.values)
def test_every_detail_of_every_request_kind_has_a_label_in_both_languages(org, kind):
    details = details_of(org, kind)
    expected_keys = {n for n in FORMS[kind].base_fields if n not in COMMON_FIELDS} - {"details"}
    assert set(details) >= expected_keys | {"message"}
    for key in details:
        assert key in labels.DETAIL_LABELS, f"{kind}: no label for {key!r}"
        in_both_languages(labels.DETAIL_LABELS[key], "request detail")


@pytest.mark.parametrize("slug", SEEDS)
def test_every_field_of_the_policy_files_has_a_label_in_both_languages(slug):
    policy = yaml.safe_load((POLICY_DIR / f"{slug}.yaml").read_text(encoding="utf-8"))
    fields = set()
    for category in policy["categories"]:
        fields |= set(category["fields"])
    for rule in policy["retention_rules"]:
        fields |= set(rule.get("fields") or []) | set(rule.get("anonymise_fields") or [])
    assert fields
    missing = sorted(fields - set(FIELD_LABELS))
    assert missing == [], f"{slug}.yaml: fields without a label"
    for key in fields:
        english, svenska = in_both_languages(FIELD_LABELS[key], "record field")
        assert "_" not in english and "_" not in svenska


def test_values_read_as_text():
    with translation.override("en"):
        assert labels.value_text(True) == "yes" and labels.value_text(False) == "no"
        assert labels.value_text(["a", "b"]) == "a, b"
        assert labels.value_text({"customer_number": "K-1"}) == "customer number: K-1"
        assert labels.value_text(1234.5) == "1234.5"
    with translation.override("sv"):
        assert labels.value_text(True) == "ja" and labels.value_text(None) == "–"
        assert labels.value_text([]) == labels.value_text("") == labels.value_text({}) == "–"
        assert labels.value_text(1234.5) == "1234,5"


@pytest.mark.parametrize("language", ["sv", "en"])
@pytest.mark.parametrize("kind", RequestKind.values)
def test_the_details_of_every_kind_read_as_names_not_keys(org, kind, language):
    request = make_request(org, kind=kind)
    request.details = details_of(org, kind)
    request.save(update_fields=["details"])
    with translation.override(language):
        shown = labels.request_details(request=request)
        purposes = {p.key: p.name_en if language == "en" else p.name_sv for p in org.purposes.all()}
        categories = {
            c.key: c.name_en if language == "en" else c.name_sv for c in org.categories.all()
        }
    assert {d.key for d in shown} == set(request.details)
    for detail in shown:
        assert detail.label != detail.key
        assert not PYTHON_VALUES.search(detail.text), (detail.key, detail.text)
        for key in request.details.get("purposes") or []:
            assert purposes[key] in detail.text or detail.key != "purposes"
            assert not re.search(rf"\b{key}\b", detail.text)
        for key in request.details.get("categories") or []:
            assert categories[key] in detail.text or detail.key != "categories"
            assert not re.search(rf"\b{key}\b", detail.text)
    texts = {d.key: d.text for d in shown}
    yes = "yes" if language == "en" else "ja"
    if kind == RequestKind.OBJECTION:
        assert texts["direct_marketing"] == yes
    if kind == RequestKind.RECTIFICATION:
        items = next(d.items for d in shown if d.key == "corrections")
        assert len(items) == 2 and "“Efternamn Svensén”" in items[0]


def test_a_detail_nobody_labelled_is_still_readable(org):
    request = make_request(org, kind="access")
    request.details = {"preferred_contact_time": "", "format": "html"}
    request.save(update_fields=["details"])
    with translation.override("en"):
        shown = {d.key: (d.label, d.text) for d in labels.request_details(request=request)}
    assert shown["preferred_contact_time"] == ("Preferred contact time", "–")
    assert shown["format"] == ("Format", "A readable document (HTML)")


# --- The pages show them -------------------------------------------------------------------


def _section(html: str, heading_id: str) -> str:
    match = re.search(rf'<section aria-labelledby="{heading_id}">(.*?)</section>', html, re.S)
    assert match, heading_id
    return match.group(1)


@pytest.mark.parametrize("language", ["sv", "en"])
@pytest.mark.parametrize("kind", RequestKind.values)
def test_the_staff_request_page_shows_no_raw_key_or_python_value(org, staff, kind, language):
    request = make_request(org, kind=kind)
    request.details = details_of(org, kind)
    request.save(update_fields=["details"])
    client = signed_in(staff_client_for_language(language), staff["viewer"])
    page = client.get(f"/staff/requests/{request.reference}/")
    assert page.status_code == 200
    asked = _section(page.content.decode(), "h-asked")
    terms = [html.unescape(t) for t in re.findall(r"<dt>(.*?)</dt>", asked)]
    with translation.override(language):
        assert terms == [labels.detail_label(k) for k in _ordered(request.details)]
    for key in request.details:
        assert f"<dt>{key}</dt>" not in asked
    for definition in re.findall(r"<dd>(.*?)</dd>", asked, re.S):
        text = html.unescape(re.sub(r"<[^>]+>", " ", definition))
        assert not PYTHON_VALUES.search(text), text
    for key in [*request.details.get("purposes", []), *request.details.get("categories", [])]:
        assert not re.search(rf">[^<]*\b{key}\b", asked), key


def _ordered(details: dict) -> list[str]:
    order = list(labels.DETAIL_LABELS)
    return sorted(details, key=lambda k: (order.index(k) if k in order else len(order), k))


def staff_client_for_language(language: str):
    from django.test import Client

    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.cookies["django_language"] = language
    return client


def _every_field_of_every_category(org) -> DataSubject:
    """One record per category holding every field of the category, on its first purpose."""
    subject = DataSubject.objects.create(organisation=org, external_id="every-field")
    records = []
    for n, category in enumerate(org.categories.order_by("key")):
        purpose = category.purposes.order_by("key").first()
        assert purpose is not None, category.key
        records.append(
            Record(
                organisation=org,
                subject=subject,
                category=category,
                purpose=purpose,
                rule=purpose.retention_rule,
                external_id=f"every-field-{n}",
                source="provided",
                collected_at=COLLECTED,
                data={field: f"v{n}-{i}" for i, field in enumerate(category.fields)},
            )
        )
    Record.objects.bulk_create(records)
    return subject


@pytest.mark.parametrize("language", ["sv", "en"])
@pytest.mark.parametrize("slug", SEEDS)
def test_the_access_report_names_every_field_of_the_policy(organisations, slug, language):
    """Art. 12(1): the reply is "in a concise, transparent, intelligible ... form, using clear
    and plain language": the person reads "kundnummer", not `customer_number`."""
    org = organisations[slug]
    subject = _every_field_of_every_category(org)
    request = approved_request(org, language=language, subject=subject)
    package = packages.package_start(request_id=request.pk)
    files = package_zip(package)
    report = files["report.html"].decode()
    terms = re.findall(r"<td><dl>(.*?)</dl></td>", report, re.S)
    shown = {html.unescape(t) for row in terms for t in re.findall(r"<dt>(.*?)</dt>", row)}
    keys = {field for category in org.categories.all() for field in category.fields}
    with translation.override(language):
        expected = {labels.field_label(k) for k in keys}
    assert shown == expected
    assert not any("_" in term for term in shown)
    if language == "sv":
        assert not shown & keys  # every Swedish label differs from its key
    document = package_json(package)
    for category in document["categories"]:
        assert set(category["field_labels"]) == set(org.categories.get(key=category["key"]).fields)


def test_the_retention_page_names_rules_categories_and_outcomes(org, staff):
    """Rule, category and outcome keys (`customer`, `contact`, `deleted`) are shown by name."""
    from django.utils import timezone

    from retention.models import LegalHold
    from retention.services.sweeps import sweep_run_inline

    request = make_request(org)
    subject = make_subject_with_records(request, records=2)
    rule = org.retention_rules.get(key="customer")
    soon = timezone.now() + dt.timedelta(days=3)
    Record.objects.filter(subject=subject).update(expires_at=soon, rule=rule)
    past = Record.objects.filter(subject=subject).order_by("id").first()
    Record.objects.filter(pk=past.pk).update(expires_at=timezone.now() - dt.timedelta(days=1))
    sweep_run_inline(organisation=org)
    LegalHold.objects.create(organisation=org, category=org.categories.get(key="contact"))
    client = signed_in(staff_client_for_language("sv"), staff["viewer"])
    page = client.get(f"/staff/org/{org.slug}/retention/").content.decode()
    cells = " ".join(re.findall(r"<td[^>]*>(.*?)</td>", page, re.S))
    assert "Kunddata" in cells and "Kontaktuppgifter" in cells and "raderade 1" in cells
    for key in ("customer", "contact", "deleted", "reduced", "anonymised", "restricted"):
        assert not re.search(rf"\b{key}\b", cells), key


def test_the_records_page_names_fields_and_shows_no_python_values(org, staff):
    request = make_request(org)
    subject = make_subject_with_records(request, records=1)
    Record.objects.filter(subject=subject).update(
        data={"order_number": "ORD-1", "amount": 10, "paid": True, "lines": ["a", "b"]}
    )
    client = signed_in(staff_client_for_language("sv"), staff["approver"])
    page = client.get(f"/staff/requests/{request.reference}/subjects/{subject.pk}/")
    assert page.status_code == 200
    text = html.unescape(page.content.decode())
    assert "<dt>ordernummer</dt><dd>ORD-1</dd>" in text
    assert "<dt>paid</dt><dd>ja</dd>" in text and "<dt>lines</dt><dd>a, b</dd>" in text
    assert "order_number" not in text and "{'" not in text and "True" not in text


def test_all_purposes_and_a_lone_key_read_as_names(org):
    request = make_request(org, kind="consent_withdrawal")
    with translation.override("sv"):
        request.details = {"purposes": ["all"]}
        assert labels.request_details(request=request)[0].text == "alla ändamål"
        request.details = {"purposes": "newsletter", "categories": "contact"}
        texts = {d.key: d.text for d in labels.request_details(request=request)}
    assert texts == {"purposes": "Nyhetsbrev", "categories": "Kontaktuppgifter"}
