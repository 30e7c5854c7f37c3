"""records_import and `manage.py import_records`: JSON Lines of subjects into the record store."""

import copy
import json
from io import StringIO
from pathlib import Path
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from retention.models import (
    AuditEntry,
    DataCategory,
    DataSubject,
    Disclosure,
    Purpose,
    Record,
    SubjectIdentifier,
)
from retention.services import record_import as records_service
from retention.services.record_import import records_import
from retention.services.records import record_rule_for, record_rules_for_organisation

FIXTURES = Path(__file__).parent / "fixtures"

pytestmark = pytest.mark.django_db


def subject_line(n: int = 1, **overrides) -> dict:
    """A valid FRAMSTEGET customer with an invoice, an IP address and a disclosure."""
    line = {
        "organisation": "framsteget",
        "external_id": f"cust-{n}",
        "identifiers": {
            "email": [f"  Kund.{n}@Example.SE "],
            "phone": ["070-123 45 67"],
            "personnummer": ["19811218-9876"],
            "customer_number": [f"fs-{n}"],
        },
        "records": [
            {
                "external_id": f"inv-{n}",
                "category": "invoice",
                "purpose": "billing",
                "data": {"invoice_number": f"F{n}", "amount": "499.00", "vat": "99.80"},
                "source": "provided",
                "collected_at": "2025-01-31T10:00:00+01:00",
                "settled_at": "2025-02-20T00:00:00Z",
            },
            {
                "external_id": f"ip-{n}",
                "category": "ip_address",
                "purpose": "information_security",
                "data": {"ip_address": "192.0.2.10"},
                "source": "observed",
                "source_detail": "login",
                "collected_at": "2025-03-01T08:00:00Z",
            },
        ],
        "disclosures": [
            {
                "recipient": "print_processor",
                "record": f"inv-{n}",
                "disclosed_at": "2025-02-01T09:00:00Z",
            }
        ],
    }
    line.update(overrides)
    return line


def run_import(lines: list, **kwargs):
    raw = [item if isinstance(item, str) else json.dumps(item) for item in lines]
    return records_import(organisation_lines=enumerate(raw, start=1), **kwargs)


def snapshot() -> dict:
    """Everything an import writes, to compare before and after."""
    return {
        "subjects": list(DataSubject.objects.order_by("pk").values()),
        "identifiers": list(SubjectIdentifier.objects.order_by("pk").values()),
        "records": list(Record.objects.order_by("pk").values()),
        "disclosures": list(Disclosure.objects.order_by("pk").values()),
    }


# --- Good lines --------------------------------------------------------------


def test_it_imports_a_subject_with_identifiers_records_and_disclosures(organisations):
    result = run_import([subject_line()])

    assert result.ok
    subject = DataSubject.objects.get(external_id="cust-1")
    assert subject.organisation == organisations["framsteget"]
    assert set(subject.identifiers.values_list("kind", "value")) == {
        ("email", "kund.1@example.se"),
        ("phone", "+46701234567"),
        ("personnummer", "198112189876"),
        ("customer_number", "FS-1"),
    }
    invoice = Record.objects.get(external_id="inv-1")
    assert invoice.subject == subject
    assert invoice.category.key == "invoice"
    assert invoice.purpose.key == "billing"
    assert invoice.data == {"invoice_number": "F1", "amount": "499.00", "vat": "99.80"}
    assert invoice.source == "provided"
    assert invoice.settled_at.isoformat() == "2025-02-20T00:00:00+00:00"
    # Paid 2025-02-20 01:00 Stockholm: 18 months later, computed at import.
    assert invoice.expires_at.isoformat() == "2026-08-19T23:00:00+00:00"
    ip = Record.objects.get(external_id="ip-1")
    assert ip.source_detail == "login"
    disclosure = Disclosure.objects.get()
    assert disclosure.subject == subject
    assert disclosure.record == invoice
    assert disclosure.category == invoice.category
    assert disclosure.recipient.key == "print_processor"
    assert disclosure.external_id.startswith("auto-")
    counts = result.counts
    assert (counts.subjects_created, counts.records_created, counts.disclosures_created) == (
        1,
        2,
        1,
    )
    assert counts.identifiers_created == 4


def test_it_imports_lines_of_different_organisations_in_one_file(organisations):
    coachen = {
        "organisation": "coachen",
        "external_id": "c-1",
        "identifiers": {"email": ["klient@example.se"]},
        "records": [
            {
                "external_id": "health-1",
                "category": "health",
                "purpose": "coaching_health",
                "data": {"health_information": "sömnproblem"},
                "source": "provided",
                "collected_at": "2024-05-01T10:00:00+02:00",
                "contract_ended_at": "2024-12-31T00:00:00+01:00",
            }
        ],
    }

    result = run_import([subject_line(), coachen])

    assert result.ok
    assert Record.objects.get(external_id="health-1").organisation == organisations["coachen"]
    assert result.counts.subjects_created == 2


def test_it_accepts_a_disclosure_of_a_category_with_its_own_external_id(organisations):
    line = subject_line(
        disclosures=[
            {
                "external_id": "court-order-7",
                "recipient": "law_enforcement",
                "record": None,
                "category": "ip_address",
                "disclosed_at": "2025-03-02T12:00:00Z",
            }
        ]
    )

    run_import([line])

    disclosure = Disclosure.objects.get()
    assert (disclosure.external_id, disclosure.record, disclosure.category.key) == (
        "court-order-7",
        None,
        "ip_address",
    )


def test_it_stores_quotes_backslashes_braces_and_unicode_exactly(organisations):
    tricky = 'Åsa "Kalle" O\'Brien \\ {NULL, x} \t ✓'
    line = _with("records.0.data.description", tricky)
    line["records"][0]["external_id"] = 'inv-"1"\\'
    line["disclosures"][0]["record"] = 'inv-"1"\\'

    assert run_import([line]).ok

    assert Record.objects.get(external_id='inv-"1"\\').data["description"] == tricky


def test_it_skips_blank_lines_without_calling_them_invalid(organisations):
    result = run_import([subject_line(1), "", "   \n", subject_line(2)])

    assert result.ok
    assert result.lines == 2
    assert DataSubject.objects.count() == 2


# --- Bad lines ---------------------------------------------------------------


def _without(path: str) -> dict:
    line = subject_line()
    *parents, last = path.split(".")
    target = line
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    del target[last]
    return line


def _with(path: str, value) -> dict:
    line = subject_line()
    *parents, last = path.split(".")
    target = line
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[last] = value
    return line


BAD_LINES = {
    "not JSON": ('{"organisation": "framsteget",', "not valid JSON"),
    "not an object": ("[1, 2]", "line: must be an object"),
    "unknown top-level field": (_with("nickname", "x"), "line: unknown field 'nickname'"),
    "unknown organisation": (_with("organisation", "nosuchorg"), "organisation: unknown"),
    "missing organisation": (_without("organisation"), "organisation: unknown"),
    "missing external id": (_without("external_id"), "external_id: is required"),
    "no identifiers": (_with("identifiers", {}), "identifiers: at least one"),
    "unknown identifier kind": (_with("identifiers.iban", ["x"]), "identifiers: unknown field"),
    "identifiers not a list": (_with("identifiers.email", "a@example.se"), "identifiers.email:"),
    "invalid e-mail": (_with("identifiers.email", ["not-an-address"]), "identifiers.email[0]:"),
    "invalid phone": (_with("identifiers.phone", ["12"]), "identifiers.phone[0]:"),
    "personnummer check digit": (
        _with("identifiers.personnummer", ["19811218-9875"]),
        "identifiers.personnummer[0]: The check digit",
    ),
    "records not a list": (_with("records", {}), "records: must be a list"),
    "unknown category": (_with("records.0.category", "tattoos"), "records[0].category: unknown"),
    "unknown purpose": (_with("records.1.purpose", "espionage"), "records[1].purpose: unknown"),
    "category not of the purpose": (
        _with("records.1.purpose", "billing"),
        "records[1].category: 'ip_address' is not one of the categories of purpose 'billing'",
    ),
    "data field not of the category": (
        _with("records.0.data.shoe_size", 44),
        "records[0].data: 'shoe_size' is not a field of category 'invoice'",
    ),
    "data not an object": (_with("records.0.data", ["x"]), "records[0].data: must be an object"),
    "invalid source": (_with("records.0.source", "guessed"), "records[0].source: must be one of"),
    "missing collected_at": (
        _without("records.0.collected_at"),
        "records[0].collected_at: is required",
    ),
    "timestamp without time zone": (
        _with("records.0.settled_at", "2025-02-20T00:00:00"),
        "records[0].settled_at: has no time zone",
    ),
    "date instead of timestamp": (
        _with("records.0.collected_at", "2025-02-20"),
        "records[0].collected_at: has no time zone",
    ),
    "not a timestamp": (
        _with("records.1.collected_at", "yesterday"),
        "records[1].collected_at: is not an ISO 8601 timestamp",
    ),
    "NUL character in data": (
        _with("records.0.data.amount", "4\u00009"),
        "records[0].data: contains a NUL character",
    ),
    "NUL character in an id": (_with("external_id", "a\u0000b"), "external_id: contains a NUL"),
    "unknown record field": (_with("records.0.colour", "red"), "records[0]: unknown field"),
    "record id used twice": (
        _with("records.1.external_id", "inv-1"),
        "records[1].external_id: is used twice on this line",
    ),
    "unknown recipient": (
        _with("disclosures.0.recipient", "the_press"),
        "disclosures[0].recipient: unknown recipient",
    ),
    "disclosed record not on the line": (
        _with("disclosures.0.record", "inv-999"),
        "disclosures[0].record: is not the external_id of a record on this line",
    ),
    "disclosure of nothing": (
        _with("disclosures.0.record", None),
        "disclosures[0]: name the record or the category",
    ),
    "disclosure category not the record's": (
        _with("disclosures.0.category", "ip_address"),
        "disclosures[0].category: is not the category of the record",
    ),
    "missing disclosed_at": (
        _without("disclosures.0.disclosed_at"),
        "disclosures[0].disclosed_at: is required",
    ),
}


@pytest.mark.parametrize("kind", BAD_LINES)
def test_it_reports_a_bad_line_with_its_number_and_imports_the_good_ones(organisations, kind):
    bad, reason = BAD_LINES[kind]

    result = run_import([subject_line(1), copy.deepcopy(bad), subject_line(3)])

    assert len(result.invalid) == 1
    line_no, message = result.invalid[0]
    assert line_no == 2
    assert reason in message
    assert set(DataSubject.objects.values_list("external_id", flat=True)) == {"cust-1", "cust-3"}


def test_it_imports_nothing_of_an_invalid_line(organisations):
    run_import([_with("records.1.source", "guessed")])

    assert not DataSubject.objects.exists()
    assert not Record.objects.exists()
    assert not SubjectIdentifier.objects.exists()


def test_it_never_repeats_personal_data_in_a_reason(organisations):
    secrets = ["19811218-9875", "anna@@example.se", "Anna Andersson", "Storgatan 1"]
    lines = [
        _with("identifiers.personnummer", [secrets[0]]),
        _with("identifiers.email", [secrets[1]]),
        _with("records.0.data.Anna Andersson", "x"),
        _with("organisation", "Storgatan 1"),
        _with("records.0.category", "Anna Andersson"),
    ]

    result = run_import(lines)

    assert len(result.invalid) == len(lines)
    text = "\n".join(reason for _, reason in result.invalid)
    for secret in secrets:
        assert secret not in text


# --- Re-import ---------------------------------------------------------------


def test_it_changes_nothing_when_the_same_file_is_imported_again(organisations):
    lines = [subject_line(n) for n in range(1, 6)]
    run_import(lines)
    before = snapshot()

    result = run_import(lines)

    assert snapshot() == before
    counts = result.counts
    assert (counts.subjects_created, counts.subjects_updated, counts.subjects_unchanged) == (
        0,
        0,
        5,
    )
    assert (counts.records_created, counts.records_updated, counts.records_unchanged) == (0, 0, 10)
    assert (counts.disclosures_created, counts.disclosures_unchanged) == (0, 5)
    assert counts.identifiers_created == 0


def test_it_updates_a_record_whose_data_changed_and_adds_new_identifiers(organisations):
    run_import([subject_line()])
    changed = _with("records.0.data.amount", "599.00")
    changed["identifiers"]["email"].append("ny.adress@example.se")

    result = run_import([changed])

    assert Record.objects.get(external_id="inv-1").data["amount"] == "599.00"
    assert result.counts.records_updated == 1
    assert result.counts.records_unchanged == 1
    assert result.counts.identifiers_created == 1
    assert (result.counts.subjects_created, result.counts.subjects_updated) == (0, 1)
    # An import adds; it never removes what an earlier file said.
    assert SubjectIdentifier.objects.filter(kind="email").count() == 2


def test_a_later_line_for_the_same_subject_adds_to_it(organisations):
    second = subject_line(1, records=[], disclosures=[])
    second["identifiers"] = {"email": ["andra@example.se"]}

    run_import([subject_line(1), second])

    assert DataSubject.objects.count() == 1
    assert SubjectIdentifier.objects.filter(kind="email").count() == 2
    assert Record.objects.count() == 2


def test_a_later_line_with_the_same_record_id_wins_within_a_batch(organisations):
    first = subject_line(1)
    second = _with("records.0.data.amount", "1.00")

    run_import([first, second])

    assert Record.objects.get(external_id="inv-1").data["amount"] == "1.00"


@pytest.mark.parametrize(
    "erased",
    [
        {"anonymised_at": "2025-06-01T00:00:00Z"},
        {"restricted_at": "2025-06-01T00:00:00Z", "restriction_ground": "erasure_exception"},
        {"rule_key": "bookkeeping"},  # reduced by a sweep to the fields bookkeeping keeps
    ],
    ids=["anonymised", "restricted", "reduced"],
)
def test_it_never_writes_imported_data_over_a_record_that_was_erased_in_part(organisations, erased):
    run_import([subject_line()])
    erased = dict(erased)
    if rule_key := erased.pop("rule_key", None):
        erased["rule"] = organisations["framsteget"].retention_rules.get(key=rule_key)
    Record.objects.filter(external_id="inv-1").update(data={"invoice_number": "F1"}, **erased)

    result = run_import([subject_line()])

    invoice = Record.objects.get(external_id="inv-1")
    assert invoice.data == {"invoice_number": "F1"}
    assert result.counts.records_updated == 0
    if rule_key:
        assert invoice.rule.key == "bookkeeping"


def court_order(subject: int, disclosed_at: str = "2025-03-02T12:00:00Z") -> dict:
    """A line of subject `subject` with a disclosure the organisation gave its own id."""
    disclosure = {
        "external_id": "court-order-7",
        "recipient": "law_enforcement",
        "record": None,
        "category": "ip_address",
        "disclosed_at": disclosed_at,
    }
    return subject_line(subject, disclosures=[disclosure])


def test_a_reimported_disclosure_id_is_never_stored_twice(organisations):
    run_import([court_order(1)])
    first = Disclosure.objects.get()

    # Again, one line per batch, then under another subject with another date.
    again = run_import([court_order(1), court_order(1)], batch_size=1)
    moved = run_import([court_order(2, disclosed_at="2025-04-01T00:00:00Z")])

    assert again.ok and moved.ok
    assert (again.counts.disclosures_created, again.counts.disclosures_unchanged) == (0, 2)
    assert (moved.counts.disclosures_created, moved.counts.disclosures_unchanged) == (0, 1)
    assert list(Disclosure.objects.values_list("pk", "subject__external_id", "disclosed_at")) == [
        (first.pk, "cust-1", first.disclosed_at)  # a fact of the past: left as it was
    ]


def test_the_database_refuses_a_second_disclosure_with_the_same_id(organisations):
    run_import([court_order(1)])
    disclosure = Disclosure.objects.get()
    duplicate = {
        "organisation": disclosure.organisation,
        "recipient": disclosure.recipient,
        "subject": disclosure.subject,
        "disclosed_at": disclosure.disclosed_at,
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        Disclosure.objects.create(external_id="court-order-7", **duplicate)
    # Disclosures without an id (written by hand) are not compared.
    Disclosure.objects.create(external_id="", **duplicate)
    Disclosure.objects.create(external_id="", **duplicate)
    assert Disclosure.objects.count() == 3


def test_it_gives_a_disclosure_without_an_id_the_same_id_every_time(organisations):
    run_import([subject_line()])
    first = Disclosure.objects.get().external_id
    Disclosure.objects.all().delete()

    run_import([subject_line()])

    assert Disclosure.objects.get().external_id == first


# --- Retention rules ---------------------------------------------------------


def test_it_gives_framsteget_ip_addresses_the_ip_address_rule_whatever_the_purpose(organisations):
    line = subject_line()
    line["records"][1]["purpose"] = "legal_requests"  # whose own rule is customer_data

    run_import([line])

    assert Record.objects.get(external_id="ip-1").rule.key == "ip_addresses"


def test_it_gives_an_invoice_the_paid_invoice_rule_also_under_the_bookkeeping_purpose(
    organisations,
):
    line = _with("records.0.purpose", "bookkeeping")

    run_import([line])

    # The bookkeeping rule covers some fields only, outlasting paid_invoice.
    assert Record.objects.get(external_id="inv-1").rule.key == "paid_invoice"


def test_it_gives_a_record_the_purposes_rule_when_no_rule_names_its_category(organisations):
    line = {
        "organisation": "coachen",
        "external_id": "c-1",
        "identifiers": {"email": ["intresserad@example.se"]},
        "records": [
            {
                "external_id": "enq-1",
                "category": "correspondence",
                "purpose": "enquiries",
                "data": {"message": "Hej!"},
                "source": "provided",
                "collected_at": "2025-01-01T10:00:00Z",
                "last_contact_at": "2025-01-02T10:00:00Z",
            }
        ],
    }

    run_import([line])

    assert Record.objects.get(external_id="enq-1").rule.key == "non_customer"


def test_the_bulk_rule_resolver_agrees_with_record_rule_for_for_every_pair(organisations):
    for organisation in organisations.values():
        with CaptureQueriesContext(connection) as queries:
            rules = record_rules_for_organisation(organisation=organisation)
        assert len(queries) <= 4
        for purpose in Purpose.objects.filter(organisation=organisation):
            for category in purpose.categories.all():
                expected = record_rule_for(category=category, purpose=purpose)
                assert rules[(category.pk, purpose.pk)] == expected


def test_record_rule_for_prefers_the_purposes_rule_among_several_that_name_the_category(
    organisations,
):
    org = organisations["framsteget"]
    ip = DataCategory.objects.get(organisation=org, key="ip_address")
    security = Purpose.objects.get(organisation=org, key="information_security")
    customer_data = org.retention_rules.get(key="customer_data")
    customer_data.applies_to_categories.add(ip)  # now customer_data < ip_addresses by key

    assert record_rule_for(category=ip, purpose=security).key == "ip_addresses"
    legal = Purpose.objects.get(organisation=org, key="legal_requests")
    assert record_rule_for(category=ip, purpose=legal).key == "customer_data"


# --- Batches and queries -----------------------------------------------------


def test_it_writes_batches_of_batch_size_lines(organisations):
    lines = [subject_line(n) for n in range(1, 6)]
    lines[2] = _with("records.0.source", "guessed")

    with mock.patch.object(
        records_service, "subject_rows_write", wraps=records_service.subject_rows_write
    ) as write:
        result = run_import(lines, batch_size=2)

    assert [len(call.kwargs["rows"]) for call in write.call_args_list] == [2, 1, 1]
    assert result.invalid[0][0] == 3
    assert DataSubject.objects.count() == 4
    assert Record.objects.count() == 8


def test_a_failing_batch_leaves_the_batches_before_it_and_is_audited(organisations):
    real_write = records_service.subject_rows_write
    calls = []

    def write_then_fail(*, rows):
        calls.append(rows)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real_write(rows=rows)

    with (
        mock.patch.object(records_service, "subject_rows_write", write_then_fail),
        pytest.raises(RuntimeError),
    ):
        run_import([subject_line(n) for n in range(1, 6)], batch_size=2)

    assert set(DataSubject.objects.values_list("external_id", flat=True)) == {"cust-1", "cust-2"}
    entry = AuditEntry.objects.get(action="retention.records.imported")
    assert entry.data["completed"] is False
    assert entry.data["subjects_created"] == 2


def test_its_queries_do_not_grow_with_the_number_of_lines(organisations):
    def queries_for(n: int, offset: int) -> int:
        lines = [subject_line(offset + i) for i in range(n)]
        with CaptureQueriesContext(connection) as queries:
            run_import(lines, batch_size=n)
        return len(queries)

    assert queries_for(10, 0) == queries_for(100, 1000)
    assert DataSubject.objects.count() == 110


# --- Audit -------------------------------------------------------------------


def test_it_writes_one_audit_entry_per_run_with_counts_and_no_personal_data(organisations):
    run_import([subject_line(1), subject_line(2), "not json"], batch_size=1)

    entry = AuditEntry.objects.get(action="retention.records.imported")
    assert entry.organisation == organisations["framsteget"]
    assert entry.data["lines"] == 3
    assert entry.data["invalid_lines"] == 1
    assert entry.data["subjects_created"] == 2
    assert entry.data["records_created"] == 4
    assert entry.data["completed"] is True
    assert "example.se" not in json.dumps(entry.data)


# --- The command -------------------------------------------------------------


def test_the_command_imports_a_file_and_prints_the_counts(organisations):
    out = StringIO()

    call_command("import_records", str(FIXTURES / "framsteget_sample.jsonl"), stdout=out)

    assert "subjects: 3 created, 0 updated, 0 unchanged" in out.getvalue()
    assert "invalid lines: 0" in out.getvalue()
    assert DataSubject.objects.filter(organisation=organisations["framsteget"]).count() == 3


def test_the_command_prints_each_invalid_line_and_exits_with_1(organisations, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        json.dumps(subject_line(1)) + "\n{broken\n" + json.dumps(_with("organisation", "x")) + "\n"
    )
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError) as excinfo:
        call_command("import_records", str(path), stdout=out, stderr=err)

    assert excinfo.value.returncode == 1
    assert "line 2: not valid JSON" in err.getvalue()
    assert "line 3: organisation: unknown organisation" in err.getvalue()
    assert "subjects: 1 created" in out.getvalue()
    assert DataSubject.objects.filter(external_id="cust-1").exists()


def test_the_command_reports_a_line_that_is_not_utf8(organisations, tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(subject_line(1)).encode() + b'\n{"organisation": "fr\xe5"}\n')
    err = StringIO()

    with pytest.raises(CommandError):
        call_command("import_records", str(path), stdout=StringIO(), stderr=err)

    assert "line 2: not valid UTF-8" in err.getvalue()
