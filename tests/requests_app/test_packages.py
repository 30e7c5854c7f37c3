"""Access and portability packages: what they hold, how they are built, released and expire."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import secrets

import jsonschema
import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext

from requests_app.models import (
    DataPackage,
    OrganisationSettings,
    RequestResolution,
    RequestStatus,
    SubjectRequest,
)
from requests_app.services import packages
from requests_app.services.packages import SCHEMA_DIR
from requests_app.services.packages import build as packages_build
from requests_app.services.packages import report as packages_report
from requests_app.services.staff import StaffActionError, request_cancel
from retention.models import AuditEntry, DataSubject, Record
from tests.requests_app.helpers import (
    COLLECTED,
    approved_request,
    make_request,
    now,
    package_bytes,
    package_json,
    package_zip,
    person_with_data,
)

S = RequestStatus


def schema(name: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())


def validate(document: dict, name: str) -> None:
    jsonschema.Draft202012Validator.check_schema(schema(name))
    jsonschema.Draft202012Validator(
        schema(name), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(document)


def text_of(html: bytes) -> str:
    """The report as a reader sees it: tags gone, white space collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html.decode()).split())


def package_actions(request) -> list[str]:
    return list(
        AuditEntry.objects.filter(object_type="subject_request", object_id=str(request.pk))
        .filter(action__startswith="requests.package.")
        .order_by("id")
        .values_list("action", flat=True)
    )


# --- The access package ----------------------------------------------------------------------

# What each Art. 15 item looks like in the report, per language.
ARTICLE_15 = {
    "sv": {
        "confirmation (15(1))": "Behandlar vi personuppgifter om dig? art. 15.1 Ja.",
        "purposes (a)": "Leverans : Vi levererar det du beställt.",
        "legal basis (a)": "Rättslig grund: Avtal (art. 6.1 b)",
        "categories (b)": "Kontaktuppgifter",
        "recipients (c)": "Utskicksföretag (SE)",
        "retention (d)": "2 år räknat från att avtalet eller abonnemanget upphörde",
        "rights (e)": "Du har rätt att få felaktiga uppgifter rättade (art. 16).",
        "complaint to IMY (f)": "klaga hos tillsynsmyndigheten, Integritetsskyddsmyndigheten (IMY)",
        "source (g)": "Från tredje part: Adressbolaget AB",
        "automated decisions (h)": "Vi fattar inga beslut om dig som enbart grundas på "
        "automatiserad behandling",
        "the data (15(3))": "ORD-1001",
    },
    "en": {
        "confirmation (15(1))": "Do we process personal data about you? Art. 15(1) Yes.",
        "purposes (a)": "Delivery : We deliver what you ordered.",
        "legal basis (a)": "Legal basis: Contract (Art. 6(1)(b))",
        "categories (b)": "Contact details",
        "recipients (c)": "Mailing company (SE)",
        "retention (d)": "2 years counted from end of the contract or subscription",
        "rights (e)": "You have the right to have inaccurate data corrected (Art. 16).",
        "complaint to IMY (f)": "complain to the supervisory authority, "
        "Integritetsskyddsmyndigheten (IMY)",
        "source (g)": "From a third party: Adressbolaget AB",
        "automated decisions (h)": "We do not make decisions about you by automated means alone",
        "the data (15(3))": "ORD-1001",
    },
}


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_access_report_gives_every_article_15_item_in_the_persons_language(
    org, staff, language
):
    request = approved_request(org, language=language)
    package = packages.package_start(request_id=request.pk)

    files = package_zip(package)
    assert set(files) == {"report.html", "data.json"}
    report = files["report.html"].decode()
    assert f'<html lang="{language}">' in report
    text = text_of(files["report.html"])
    for item, expected in ARTICLE_15[language].items():
        assert expected in text, item
    # The data itself, every value of every record, each category with its own section.
    for value in ["Anna Andersson", "+46701", "SEGMENT-GOLD", "A. Andersson-Broker"]:
        assert value in text
    assert 'id="category-contact"' in report and 'id="category-orders"' in report
    assert "https://www.imy.se" in report
    other = "en" if language == "sv" else "sv"
    assert ARTICLE_15[other]["legal basis (a)"] not in text


def test_the_report_escapes_the_data_it_shows(org, staff):
    subject = person_with_data(org, external_id="script")
    Record.objects.filter(subject=subject, purpose__key="newsletter").update(
        data={"email": "<script>alert(1)</script>"}
    )
    request = approved_request(org, subject=subject)
    report = package_zip(packages.package_start(request_id=request.pk))["report.html"].decode()
    assert "<script>alert(1)</script>" not in report
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report


def test_automated_decision_making_is_described_when_the_policy_says_so(org, staff):
    org.policy["organisation"]["automated_decision_making"] = {
        "text": "Credit limits are set by a scoring model.",
        "quote": "Vi använder automatiserad kreditprövning.",
    }
    org.save(update_fields=["policy"])
    request = approved_request(org, language="en")
    package = packages.package_start(request_id=request.pk)
    text = text_of(package_zip(package)["report.html"])
    assert "Credit limits are set by a scoring model." in text
    assert "We do not make decisions about you by automated means alone" not in text
    assert package_json(package)["automated_decision_making"]["exists"] is True


def test_the_access_json_validates_against_its_committed_schema(org, staff, client):
    request = approved_request(org, details={"format": "json", "categories": []})
    document = package_json(packages.package_start(request_id=request.pk))
    validate(document, "access-v1")
    assert document["reference"] == request.reference
    assert document["record_count"] == 6
    records = [r for c in document["categories"] for r in c["records"]]
    assert len(records) == 6 and {c["key"] for c in document["categories"]} == {
        "contact",
        "orders",
    }
    # The schema the file names is served where it says.
    served = client.get("/schemas/access-v1.json")
    assert served.status_code == 200
    assert json.loads(b"".join(served.streaming_content)) == schema("access-v1")
    assert document["schema"].endswith("/schemas/access-v1.json")


def test_someone_with_no_data_is_told_so_in_a_valid_package(org, staff):
    nobody = DataSubject.objects.create(organisation=org, external_id="nobody")
    request = approved_request(org, subject=nobody, language="en")
    package = packages.package_start(request_id=request.pk)
    document = package_json(package)
    validate(document, "access-v1")
    assert document["processes_data"] is False and document["categories"] == []
    assert "We do not process any personal data about you" in text_of(
        package_zip(package)["report.html"]
    )


def test_the_package_covers_only_the_matched_person_and_the_categories_asked_for(org, staff):
    person_with_data(org, external_id="someone-else")
    request = approved_request(org, details={"format": "html", "categories": ["orders"]})
    document = package_json(packages.package_start(request_id=request.pk))
    assert [c["key"] for c in document["categories"]] == ["orders"]
    assert document["scope"] == {"categories": ["orders"]}
    assert document["record_count"] == 3  # Anna's orders; not the other person's


def test_an_access_request_for_csv_also_gets_the_data_as_csv(org, staff):
    request = approved_request(org, details={"format": "csv", "categories": []})
    files = package_zip(packages.package_start(request_id=request.pk))
    assert set(files) == {"report.html", "data.json", "data.csv"}
    rows = list(csv.reader(io.StringIO(files["data.csv"].decode())))
    # The machine-readable keys, then what they mean for the person (Swedish request).
    assert rows[0] == [
        "category",
        "purpose",
        "source",
        "collected_at",
        "field",
        "value",
        "category_name",
        "purpose_name",
        "field_label",
    ]
    assert ["order_number", "SEGMENT-GOLD"] in [row[4:6] for row in rows]
    assert ["Beställningar", "Analys", "ordernummer"] in [row[6:] for row in rows]


# --- The portability package ------------------------------------------------------------------


def test_portability_json_holds_only_provided_or_observed_data_on_consent_or_contract(org, staff):
    request = approved_request(org, kind="portability", details={"format": "json"})
    package = packages.package_start(request_id=request.pk)
    assert package.format == "json"
    document = json.loads(package_bytes(package))
    validate(document, "portability-v1")
    records = {(r["category"], r["purpose"], r["source"]) for r in document["records"]}
    assert records == {
        ("contact", "delivery", "provided"),  # contract, given by the person
        ("orders", "delivery", "observed"),  # contract, observed from their use
        ("contact", "newsletter", "provided"),  # consent
    }
    values = json.dumps(document)
    assert "SEGMENT-GOLD" not in values  # derived, legitimate interest
    assert "Andersson-Broker" not in values  # bought from a third party, legitimate interest
    assert "KEPT-BY-LAW" not in values  # kept only under a legal obligation after erasure
    assert package.contents["records"] == 3


def test_portability_csv_has_the_same_scope_one_row_per_field(org, staff):
    request = approved_request(org, kind="portability", details={"format": "csv"})
    package = packages.package_start(request_id=request.pk)
    assert package.format == "csv" and package.content_type.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(package_bytes(package).decode())))
    assert {(r["category"], r["purpose"], r["source"]) for r in rows} == {
        ("contact", "delivery", "provided"),
        ("orders", "delivery", "observed"),
        ("contact", "newsletter", "provided"),
    }
    assert {r["field"]: r["value"] for r in rows if r["purpose"] == "newsletter"} == {
        "email": "anna@example.org"
    }
    assert len(rows) == 3 + 2 + 1  # fields of the three portable records


# --- Encryption at rest, idempotency, bounded work ---------------------------------------------


def test_the_file_on_disk_is_encrypted_and_only_its_own_key_and_package_open_it(org, staff):
    request = approved_request(org)
    package = packages.package_start(request_id=request.pk)
    on_disk = packages.package_path(package).read_bytes()
    plain = package_bytes(package)
    assert plain[:2] == b"PK" and on_disk[:2] != b"PK"
    assert len(on_disk) > len(plain)
    for secret in [b"Anna Andersson", b"ORD-1001", b"report.html", b"anna@example.org"]:
        assert secret not in on_disk
    assert packages.package_path(package).stat().st_mode & 0o077 == 0  # owner only
    assert package.sha256 == __import__("hashlib").sha256(plain).hexdigest()
    assert package.size == len(plain)
    # No plaintext was ever written beside it.
    assert [p.name for p in packages.package_path(package).parent.iterdir()] == [package.file_name]


def test_a_redelivered_message_builds_nothing_twice(org, staff, package_dir):
    request = approved_request(org)
    first = packages.package_start(request_id=request.pk, outbox_message_id=1)
    again = packages.package_start(request_id=request.pk, outbox_message_id=1)
    assert again.pk == first.pk and again.file_name == first.file_name
    assert DataPackage.objects.filter(request=request).count() == 1
    assert package_actions(request) == ["requests.package.started", "requests.package.built"]
    assert [p.name for p in package_dir.iterdir()] == [first.file_name]


def test_the_request_is_fulfilling_while_building_and_ready_for_review_after(org, staff):
    request = approved_request(org)
    package = packages.package_start(request_id=request.pk)
    request.refresh_from_db()
    assert request.status == S.FULFILLING
    assert package.state == "ready" and package.built_at is not None
    assert mail.outbox == []  # nothing goes to the person before review


def test_a_build_that_crashed_is_started_again_from_scratch(org, staff, monkeypatch, package_dir):
    request = approved_request(org)

    def crash(*args, **kwargs):
        raise RuntimeError("worker died")

    monkeypatch.setattr(packages_build, "write_access", crash)
    with pytest.raises(RuntimeError):
        packages.package_start(request_id=request.pk)
    package = DataPackage.objects.get(request=request)
    assert package.state == "building"
    assert list(package_dir.iterdir()) == []  # the half-written file is gone
    monkeypatch.undo()
    package = packages.package_start(request_id=request.pk)
    assert package.state == "ready" and package.build_attempts == 2


def test_a_build_whose_worker_died_is_handed_to_a_worker_again(
    org, staff, monkeypatch, deliver, settings
):
    request = approved_request(org)
    monkeypatch.setattr(packages_build, "write_access", lambda *a: (_ for _ in ()).throw(OSError()))
    with pytest.raises(OSError):
        packages.package_start(request_id=request.pk)
    monkeypatch.undo()
    package = DataPackage.objects.get(request=request)
    assert packages.packages_resume() == 0  # still within its lease
    later = package.build_started_at + dt.timedelta(seconds=settings.JOB_LEASE_SECONDS + 1)
    with time_machine.travel(later, tick=False), deliver():
        assert packages.packages_resume() == 1
    package.refresh_from_db()
    assert package.state == "ready" and package.build_attempts == 2


def test_a_package_that_keeps_failing_is_marked_failed_for_staff(org, staff, settings):
    request = approved_request(org)
    packages.package_start(request_id=request.pk)
    DataPackage.objects.filter(request=request).update(
        state="building", build_attempts=settings.JOB_MAX_ATTEMPTS
    )
    later = dt.datetime.now(tz=dt.UTC) + dt.timedelta(seconds=settings.JOB_LEASE_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        assert packages.packages_resume() == 0
    assert DataPackage.objects.get(request=request).state == "failed"
    assert "requests.package.failed" in package_actions(request)


def test_a_cancelled_request_gets_no_package(org, staff):
    request = approved_request(org)
    request_cancel(request=request, actor=staff["handler"])
    assert packages.package_start(request_id=request.pk) is None
    assert not DataPackage.objects.filter(request=request).exists()


def test_building_takes_the_same_number_of_queries_for_many_records(org, staff, monkeypatch):
    monkeypatch.setattr(packages_report, "RENDER_BATCH", 7)  # several rendered pieces per category
    counts = []
    for n in (1, 40):
        subject = person_with_data(org, external_id=f"many-{n}")
        Record.objects.bulk_create(
            [
                Record(
                    organisation=org,
                    subject=subject,
                    category=org.categories.get(key="orders"),
                    purpose=org.purposes.get(key="delivery"),
                    external_id=f"bulk-{n}-{i}",
                    source="provided",
                    data={"order_number": f"ORD-{i}", "amount": i, "note": secrets.token_hex(1500)},
                    collected_at=COLLECTED,  # noqa: F405
                )
                for i in range(n)
            ]
        )
        request = approved_request(org, subject=subject, details={"format": "csv"})
        with CaptureQueriesContext(connection) as queries:
            package = packages.package_start(request_id=request.pk)
        counts.append(len(queries))
        assert package.contents["records"] == 6 + n
        assert package.size > (64 * 1024 if n == 40 else 0)  # several encrypted chunks
    assert counts[0] == counts[1]


# --- Release -------------------------------------------------------------------------------------


def test_an_approver_releases_the_package_which_completes_the_request(org, staff, deliver):
    request = approved_request(org, language="en")
    package = packages.package_start(request_id=request.pk)
    with pytest.raises(PermissionDenied):
        packages.package_release(package=package, actor=staff["handler"])
    with time_machine.travel(dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC), tick=False), deliver():
        packages.package_release(package=package, actor=staff["approver"])
    package.refresh_from_db()
    request.refresh_from_db()
    assert package.state == "released" and package.released_by == staff["approver"]
    assert package.expires_at == dt.datetime(2026, 12, 8, 10, tzinfo=dt.UTC)  # 7 days
    assert request.status == S.COMPLETED
    resolution = RequestResolution.objects.get(request=request)
    assert resolution.outcome == "completed" and "8 December 2026" in resolution.text
    message = mail.outbox[-1]
    assert message.to == ["anna@example.org"]
    assert "Your data is ready to download" in message.subject
    assert "until 8 December 2026, 11:00" in message.body  # Stockholm time
    assert f"/testorg/requests/{request.reference}/" in message.body
    assert "new code" in message.body
    assert not message.attachments  # the data never travels by e-mail
    entry = AuditEntry.objects.get(action="requests.package.released")
    assert entry.actor_id == staff["approver"].pk
    assert set(entry.data) == {"package_id", "automatic", "expires_at"}
    with pytest.raises(StaffActionError):
        packages.package_release(package=package, actor=staff["approver"])  # only once


def test_the_organisation_can_release_packages_automatically(org, staff, deliver):
    packages.auto_release_set(organisation=org, actor=staff["admin"], enabled=True)
    assert AuditEntry.objects.get(action="requests.settings.changed").data == {
        "auto_release_packages": True
    }
    request = approved_request(org)
    with deliver():
        package = packages.package_start(request_id=request.pk)
    package.refresh_from_db()
    request.refresh_from_db()
    assert package.state == "released" and package.released_by is None
    assert request.status == S.COMPLETED
    assert AuditEntry.objects.get(action="requests.package.released").data["automatic"] is True
    assert "Dina uppgifter" in mail.outbox[-1].subject  # Swedish, the request's language


def test_without_the_setting_packages_wait_for_review(org, other_org, staff):
    OrganisationSettings.objects.create(organisation=other_org, auto_release_packages=True)
    package = packages.package_start(request_id=approved_request(org).pk)
    assert package.state == "ready"


# --- Expiry ------------------------------------------------------------------------------------


def test_expired_packages_are_deleted_from_disk_and_marked(org, staff):
    request = approved_request(org)
    package = packages.package_start(request_id=request.pk)
    packages.package_release(package=package, actor=staff["approver"])
    package.refresh_from_db()
    path = packages.package_path(package)
    assert packages.packages_expire(now=package.expires_at - dt.timedelta(seconds=1)) == 0
    assert path.exists()
    assert packages.packages_expire(now=package.expires_at) == 1
    package.refresh_from_db()
    assert not path.exists()
    assert package.state == "expired" and package.expired_at == package.expires_at
    entry = AuditEntry.objects.get(action="requests.package.expired")
    assert entry.data == {"package_id": package.pk, "reason": "ttl", "downloads": 0}
    assert packages.packages_expire(now=package.expires_at) == 0


def test_a_package_never_released_is_deleted_when_its_request_closes(org, staff):
    request = approved_request(org)
    package = packages.package_start(request_id=request.pk)
    SubjectRequest.objects.filter(pk=request.pk).update(status=S.COMPLETED)
    assert packages.packages_expire() == 1
    package.refresh_from_db()
    assert package.state == "expired" and not packages.package_path(package).exists()


def test_the_ttl_is_configurable(org, staff, settings):
    settings.PACKAGE_TTL_DAYS = 30
    package = packages.package_start(request_id=approved_request(org).pk)
    packages.package_release(package=package, actor=staff["approver"])
    package.refresh_from_db()
    assert (package.expires_at - package.released_at) == dt.timedelta(days=30)


# --- The person's requests to the organisation are personal data too (Art. 15) ---------------


def test_the_access_package_lists_the_persons_other_requests_and_how_long_they_are_kept(
    org, other_org, staff
):
    """Art. 15(1): the person's earlier requests are personal data the organisation holds;
    Art. 15(1)(d): the report says how long they are kept. Matched by the verified e-mail
    address only: never another person's request, an unverified one, another organisation's
    or one already anonymised."""
    earlier = make_request(org, kind="erasure", status=S.REFUSED)
    RequestResolution.objects.create(
        request=earlier, outcome="refused", decided_at=earlier.received_at, on_time=True
    )
    still_open = make_request(org, kind="objection", status=S.IN_PROGRESS)
    strangers = make_request(org, kind="erasure", email="eve@example.org")
    unverified = make_request(org, kind="access", status=S.UNVERIFIED)
    SubjectRequest.objects.filter(pk=unverified.pk).update(verified_at=None)
    elsewhere = make_request(other_org, kind="access")
    anonymised = make_request(org, kind="access", status=S.COMPLETED)
    SubjectRequest.objects.filter(pk=anonymised.pk).update(email="", anonymised_at=now())

    request = approved_request(org, details={"format": "json", "categories": []})
    package = packages.package_start(request_id=request.pk)
    document = package_json(package)
    validate(document, "access-v1")
    items = document["requests"]["items"]
    assert [i["reference"] for i in items] == [earlier.reference, still_open.reference]
    assert items[0]["kind"] == "erasure" and items[0]["status"] == "refused"
    assert items[0]["status_text"] == "Avslagen" and items[0]["closed_at"]
    assert items[1]["closed_at"] is None
    assert document["requests"]["retention"].startswith("Vi sparar dina begäranden till oss i 3 år")
    text = text_of(package_zip(package)["report.html"])
    assert "Dina begäranden till oss" in text
    assert earlier.reference in text and still_open.reference in text
    for other in (strangers, unverified, elsewhere, anonymised):
        assert other.reference not in json.dumps(document) and other.reference not in text

    # The stranger's own access package shows the stranger's request, not Anna's.
    theirs = approved_request(
        org, details={"format": "json", "categories": []}, email="eve@example.org"
    )
    document = package_json(packages.package_start(request_id=theirs.pk))
    assert [i["reference"] for i in document["requests"]["items"]] == [strangers.reference]


def test_an_access_package_without_other_requests_says_so(org, staff):
    request = approved_request(org, language="en")
    package = packages.package_start(request_id=request.pk)
    assert package_json(package)["requests"]["items"] == []
    text = text_of(package_zip(package)["report.html"])
    assert "Besides this one, we hold no request made from your e-mail address." in text
    assert "We keep your requests to us for 3 years after they are closed" in text
