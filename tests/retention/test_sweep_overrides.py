"""Overrides: a law keeps only its fields, only in records that have them, only until its date.

Coachen's and Prokompetens's bookkeeping rules override a rule that covers every category
(`customer`, `subscription_end`). Bookkeeping law (Bokföringslagen 7 kap. 2 §) covers
accounting records, not health notes or course results.
"""

import datetime as dt
import json

import pytest

from retention.models import (
    AuditEntry,
    DataSubject,
    Record,
    RetentionRule,
    SubjectIdentifier,
)
from retention.services.expiry import records_refresh
from tests.retention.test_sweeps import STOCKHOLM, sweep

PURCHASE = {
    "invoice_number": "CO-1",
    "invoice_date": "2020-02-01",
    "amount": "2500",
    "vat": "500",
    "currency": "SEK",
    "customer_name": "Erik Lindqvist",
    "customer_address": "Storgatan 1, 111 22 Stockholm",
    "description": "Coachningssession",
    "payment_date": "2020-02-10",
    "payment_method": "kort",
}


def add(subject, category: str, purpose: str, data: dict | None = None, **events) -> Record:
    org = subject.organisation
    cat = org.categories.get(key=category)
    record = Record.objects.create(
        organisation=org,
        subject=subject,
        category=cat,
        purpose=org.purposes.get(key=purpose),
        external_id=f"{subject.external_id}-{category}-{Record.objects.count()}",
        source="provided",
        data=data if data is not None else dict.fromkeys(cat.fields, "x"),
        collected_at=events.pop("collected_at", dt.datetime(2019, 5, 1, tzinfo=STOCKHOLM)),
        **events,
    )
    records_refresh(organisation=org, record_ids=[record.pk])
    record.refresh_from_db()
    return record


def coaching_client(org, *, ended, paid):
    """A Coachen client whose contract ended at `ended`: contact, health note, a purchase."""
    subject = DataSubject.objects.create(organisation=org, external_id="client-1")
    SubjectIdentifier.objects.create(
        organisation=org, subject=subject, kind="email", value="erik@example.se"
    )
    records = {
        "contact": add(subject, "contact", "contract", contract_ended_at=ended),
        "health": add(subject, "health", "coaching_health", contract_ended_at=ended),
        "purchase": add(
            subject,
            "purchases",
            "contract",
            dict(PURCHASE),
            contract_ended_at=ended,
            settled_at=paid,
        ),
    }
    return subject, records


def test_at_the_end_of_the_customer_period_health_data_goes_and_invoices_keep_only_their_fields(
    organisations,
):
    """Seed 002: "Därefter sparar vi normalt uppgifterna i högst 5 år, räknat från utgången av
    det år avtalet upphör." Bokföringslagen keeps accounting records only: the health note and
    the contact details go; the purchase keeps exactly its bookkeeping fields, until the end of
    the seventh year after the calendar year of its financial year, then it goes too.
    """
    org = organisations["coachen"]
    ended = dt.datetime(2020, 3, 15, 12, tzinfo=STOCKHOLM)
    paid = dt.datetime(2020, 2, 10, 12, tzinfo=STOCKHOLM)
    subject, records = coaching_client(org, ended=ended, paid=paid)
    # Five years from the end of 2020.
    assert {r.expires_at for r in records.values()} == {dt.datetime(2026, 1, 1, tzinfo=STOCKHOLM)}

    sweep(org, dt.datetime(2025, 12, 31, 12, tzinfo=STOCKHOLM))
    assert Record.objects.filter(subject=subject).count() == 3

    run = sweep(org, dt.datetime(2026, 1, 2, tzinfo=STOCKHOLM))
    assert run.rule_counts["customer"]["deleted"] == 2
    assert run.rule_counts["customer"]["reduced"] == 1
    assert run.errors == []
    (kept,) = Record.objects.filter(subject=subject)
    assert kept.pk == records["purchase"].pk
    bookkeeping = RetentionRule.objects.get(organisation=org, key="bookkeeping")
    assert kept.rule == bookkeeping
    assert set(kept.data) == set(bookkeeping.fields)  # payment_method is gone
    assert kept.data["invoice_number"] == "CO-1"
    # Paid in the financial year 2020 (the calendar year): kept to the end of 2027.
    assert kept.expires_at == dt.datetime(2028, 1, 1, tzinfo=STOCKHOLM)
    assert SubjectIdentifier.objects.filter(subject=subject).exists()

    sweep(org, dt.datetime(2027, 12, 31, 12, tzinfo=STOCKHOLM))
    assert Record.objects.filter(pk=kept.pk).exists()
    run = sweep(org, dt.datetime(2028, 1, 2, tzinfo=STOCKHOLM))
    assert not Record.objects.filter(pk=kept.pk).exists()
    # Its last record gone, the subject and its e-mail go with it.
    assert run.subjects_deleted == 1
    assert not DataSubject.objects.filter(pk=subject.pk).exists()
    assert not SubjectIdentifier.objects.filter(value="erik@example.se").exists()


def test_an_invoice_with_no_keep_until_date_is_reported_every_night_and_not_kept_silently(
    organisations,
):
    """A reduced record always has a keep-until date. An invoice still unpaid when the
    customer period ends has no payment to count bookkeeping from: a policy error the sweep
    records (counts and ids), leaving the record as it was, past its expiry, until fixed.
    """
    org = organisations["coachen"]
    ended = dt.datetime(2020, 3, 15, 12, tzinfo=STOCKHOLM)
    subject, records = coaching_client(org, ended=ended, paid=None)
    purchase = records["purchase"]

    for day in (2, 3):
        run = sweep(org, dt.datetime(2026, 1, day, tzinfo=STOCKHOLM))
        assert run.errors == [
            {
                "code": "no_keep_until",
                "rule": "customer",
                "overriding_rule": "bookkeeping",
                "records": 1,
                "record_ids": [purchase.pk],
            }
        ]
    purchase.refresh_from_db()
    assert purchase.data == PURCHASE and purchase.rule.key == "customer"
    assert purchase.expires_at == dt.datetime(2026, 1, 1, tzinfo=STOCKHOLM)
    assert not Record.objects.filter(pk=records["health"].pk).exists()
    entry = AuditEntry.objects.filter(action="retention.sweep.completed").last()
    assert entry.data["policy_errors"] == [{"rule": "customer", "records": 1}]
    assert "Erik" not in json.dumps(entry.data)

    # Fixed (the payment is recorded): the next sweep reduces it.
    Record.objects.filter(pk=purchase.pk).update(settled_at=dt.datetime(2020, 2, 10, tzinfo=dt.UTC))
    run = sweep(org, dt.datetime(2026, 1, 4, tzinfo=STOCKHOLM))
    assert run.errors == []
    purchase.refresh_from_db()
    assert purchase.rule.key == "bookkeeping" and purchase.expires_at is not None


def test_a_record_whose_bookkeeping_period_is_over_too_is_deleted_not_reduced(organisations):
    """Seed 001: "Uppgifter sparas upp till ett år efter att det abonnemang du använt vid
    aktuell(-a) utbildning(-ar) har avslutats." An invoice paid in 2010, in a subscription
    that ended in 2019: bookkeeping let it go at the end of 2017, so at the end of the
    subscription period there is nothing left to keep.
    """
    org = organisations["prokompetens"]
    subject = DataSubject.objects.create(organisation=org, external_id="p-1")
    invoice = add(
        subject,
        "invoicing",
        "collaboration",
        contract_ended_at=dt.datetime(2019, 6, 1, 12, tzinfo=STOCKHOLM),
        settled_at=dt.datetime(2010, 5, 1, 12, tzinfo=STOCKHOLM),
    )
    assert invoice.expires_at == dt.datetime(2020, 6, 1, 12, tzinfo=STOCKHOLM)
    run = sweep(org, dt.datetime(2020, 6, 2, tzinfo=STOCKHOLM))
    assert run.rule_counts["subscription_end"]["deleted"] == 1
    assert not Record.objects.filter(pk=invoice.pk).exists()


def test_a_dry_run_counts_reductions_deletions_and_errors_and_changes_nothing(organisations):
    org = organisations["coachen"]
    ended = dt.datetime(2020, 3, 15, 12, tzinfo=STOCKHOLM)
    subject, records = coaching_client(org, ended=ended, paid=None)
    add(
        subject,
        "purchases",
        "contract",
        dict(PURCHASE),
        contract_ended_at=ended,
        settled_at=dt.datetime(2020, 2, 10, tzinfo=STOCKHOLM),
    )
    before = list(Record.objects.values().order_by("id"))
    run = sweep(org, dt.datetime(2026, 1, 2, tzinfo=STOCKHOLM), dry_run=True)
    assert run.rule_counts["customer"]["deleted"] == 2
    assert run.rule_counts["customer"]["reduced"] == 1
    assert run.errors[0]["records"] == 1
    assert list(Record.objects.values().order_by("id")) == before


def test_empty_values_are_not_kept_for_the_law(organisations):
    """Keys with no value hold nothing a law keeps: a record with only those is deleted."""
    org = organisations["coachen"]
    ended = dt.datetime(2020, 3, 15, 12, tzinfo=STOCKHOLM)
    subject = DataSubject.objects.create(organisation=org, external_id="client-2")
    empty = add(
        subject,
        "purchases",
        "contract",
        {"invoice_number": "", "amount": None, "payment_method": "kort"},
        contract_ended_at=ended,
        settled_at=dt.datetime(2020, 2, 10, tzinfo=STOCKHOLM),
    )
    sweep(org, dt.datetime(2026, 1, 2, tzinfo=STOCKHOLM))
    assert not Record.objects.filter(pk=empty.pk).exists()


def test_the_sweep_command_prints_policy_errors_and_fails(organisations):
    """A policy error is a failure: printed to stderr, and the exit status is 1."""
    from io import StringIO

    from django.core.management import CommandError, call_command

    org = organisations["coachen"]
    _, records = coaching_client(org, ended=dt.datetime(2020, 3, 15, tzinfo=STOCKHOLM), paid=None)
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="1 policy error") as raised:
        call_command("sweep", "--organisation", "coachen", "--dry-run", stdout=out, stderr=err)
    assert raised.value.returncode == 1
    assert "customer: deleted 2" in out.getvalue()
    assert (
        "POLICY ERROR: 1 record(s) of rule customer kept: rule bookkeeping gives no end date"
        in err.getvalue()
    )
    assert str(records["purchase"].pk) in err.getvalue()


def test_the_migration_deletes_records_an_earlier_sweep_reduced_to_nothing(organisations):
    """Before issue 13 a sweep left health notes and contact details as `{}` under the
    bookkeeping rule, kept forever; migration 0010 deletes them (not the invoices)."""
    import importlib

    from django.db import connection

    migration = importlib.import_module(
        "retention.migrations.0010_delete_records_reduced_to_nothing"
    )
    org = organisations["coachen"]
    subject = DataSubject.objects.create(organisation=org, external_id="old-1")
    bookkeeping = RetentionRule.objects.get(organisation=org, key="bookkeeping")
    emptied = add(subject, "health", "coaching_health", {})
    invoice = add(subject, "purchases", "contract", {"invoice_number": "CO-9", "amount": "10"})
    Record.objects.filter(pk__in=[emptied.pk, invoice.pk]).update(rule=bookkeeping, expires_at=None)
    with connection.cursor() as cursor:
        cursor.execute(migration.SQL)
    assert not Record.objects.filter(pk=emptied.pk).exists()
    assert Record.objects.filter(pk=invoice.pk).exists()
