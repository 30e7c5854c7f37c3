"""The access reply holds every Art. 15 item; portability holds only what it should."""

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext

from retention.models import DataSubject, Disclosure, Record
from retention.services.expiry import records_refresh
from retention.services.exports import access_content, portability_content, portability_csv

NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def customer(org, records_per_purpose=1, name="anna"):
    subject = DataSubject.objects.create(organisation=org, external_id=name)
    rows = []
    for purpose in org.purposes.all():
        for category in purpose.categories.all():
            for n in range(records_per_purpose):
                rows.append(
                    Record(
                        organisation=org,
                        subject=subject,
                        category=category,
                        purpose=purpose,
                        external_id=f"{name}-{purpose.key}-{category.key}-{n}",
                        source="third_party" if n % 2 else "provided",
                        source_detail="address broker" if n % 2 else "",
                        data={category.fields[0]: "=HYPERLINK(1)"},
                        collected_at=NOW,
                    )
                )
    Record.objects.bulk_create(rows)
    records_refresh(organisation=org)
    return subject


def test_the_access_reply_holds_every_article_15_item(organisations):
    org = organisations["framsteget"]
    subject = customer(org, records_per_purpose=2)
    Disclosure.objects.create(
        organisation=org,
        recipient=org.recipients.first(),
        subject=subject,
        category=org.categories.first(),
        disclosed_at=NOW,
    )
    content = access_content(organisation=org, subject_ids=[subject.pk], language="sv")
    assert content["processes_data"] is True  # 15(1): confirmation
    assert content["record_count"] == subject.records.count()
    for category in content["categories"]:
        assert category["records"] and all("data" in r for r in category["records"])  # 15(3)
        assert category["purposes"]  # (a)
        assert all(p["legal_basis"] for p in category["purposes"])
        assert category["retention"] and all(category["retention"])  # (d)
        assert category["sources"]  # (g): some records came from a third party
        assert all("third_country" in r for r in category["recipients"])  # (c) + Art. 15(2)
    assert any(c["recipients"] for c in content["categories"])
    assert {r["right"] for r in content["rights"]} >= {
        "rectification",
        "erasure",
        "restriction",
        "objection",
    }  # (e)
    assert content["complaint"]["url"] == "https://www.imy.se"  # (f)
    assert "automated_decision_making" in content  # (h)


def test_someone_with_no_data_is_told_so(organisations):
    org = organisations["expektra"]
    subject = DataSubject.objects.create(organisation=org, external_id="nobody")
    content = access_content(organisation=org, subject_ids=[subject.pk], language="en")
    assert content["processes_data"] is False and content["categories"] == []


def test_the_access_reply_takes_the_same_number_of_queries_for_many_records(organisations):
    org = organisations["framsteget"]
    few = customer(org, records_per_purpose=1, name="few")
    many = customer(org, records_per_purpose=20, name="many")
    counts = []
    for subject in (few, many):
        with CaptureQueriesContext(connection) as queries:
            access_content(organisation=org, subject_ids=[subject.pk], language="en")
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_portability_holds_only_provided_or_observed_data_on_consent_or_contract(organisations):
    org = organisations["framsteget"]
    subject = customer(org, records_per_purpose=2)
    content = portability_content(organisation=org, subject_ids=[subject.pk])
    purposes = {p.key: p.legal_basis for p in org.purposes.all()}
    assert content["records"]
    for record in content["records"]:
        assert record["source"] in {"provided", "observed"}
        assert purposes[record["purpose"]] in {"consent", "contract"}
    expected = subject.records.filter(
        source__in=["provided", "observed"], purpose__legal_basis__in=["consent", "contract"]
    ).count()
    assert len(content["records"]) == expected


def test_the_csv_export_cannot_smuggle_a_spreadsheet_formula(organisations):
    org = organisations["framsteget"]
    subject = customer(org)
    text = portability_csv(portability_content(organisation=org, subject_ids=[subject.pk]))
    assert text.splitlines()[0] == "category,purpose,source,collected_at,field,value"
    assert ",=HYPERLINK" not in text and ",'=HYPERLINK(1)" in text
