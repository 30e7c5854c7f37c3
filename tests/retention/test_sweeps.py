"""Retention sweeps enforce every rule of the five policies, exactly at expiry."""

import calendar
import datetime as dt
import json
import threading
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from retention.models import (
    AuditEntry,
    DataSubject,
    Disclosure,
    Record,
    RetentionRule,
    SweepRun,
)
from retention.services.expiry import records_refresh
from retention.services.holds import hold_lift, hold_place
from retention.services.sweeps import sweep_run_inline

STOCKHOLM = ZoneInfo("Europe/Stockholm")
EVENT_FIELD = {
    "collected": "collected_at",
    "last_contact": "last_contact_at",
    "contract_end": "contract_ended_at",
    "purpose_end": "purpose_ended_at",
    "settled": "settled_at",
}


def add_period(moment: dt.datetime, unit: str, value: int) -> dt.datetime:
    """Calendar arithmetic, written independently of the SQL under test."""
    if unit == "days":
        return moment + dt.timedelta(days=value)
    if unit == "weeks":
        return moment + dt.timedelta(weeks=value)
    months = value * (12 if unit == "years" else 1)
    year, month = divmod(moment.month - 1 + months, 12)
    year, month = moment.year + year, month + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def expected_expiry(rule: RetentionRule, event: dt.datetime) -> dt.datetime:
    local = event.astimezone(STOCKHOLM).replace(tzinfo=None)
    if rule.end_of_calendar_year:
        local = dt.datetime(local.year + 1, 1, 1)
    return add_period(local, rule.period_unit, rule.period_value).replace(tzinfo=STOCKHOLM)


def _category_and_purpose(rule: RetentionRule):
    category = rule.applies_to_categories.first()
    if category is not None:
        return category, category.purposes.first()
    purpose = rule.purposes.first()
    for category in purpose.categories.all():
        if not category.category_rules.exists():
            return category, purpose
    raise AssertionError(f"no category for rule {rule.key}")


_counter = iter(range(1, 10**9))


def make_record(rule: RetentionRule, event: dt.datetime, **extra) -> Record:
    """A record governed by `rule` whose starting event happened at `event`."""
    org = rule.organisation
    category, purpose = _category_and_purpose(rule)
    n = next(_counter)
    subject = extra.pop("subject", None) or DataSubject.objects.create(
        organisation=org, external_id=f"s{n}"
    )
    values = {
        "collected_at": min(event, dt.datetime(2020, 1, 1, tzinfo=dt.UTC)),
        EVENT_FIELD[rule.start_event]: event,
    }
    values.update(extra)
    record = Record.objects.create(
        organisation=org,
        subject=subject,
        category=category,
        purpose=purpose,
        external_id=f"r{n}",
        source="provided",
        data=dict.fromkeys(category.fields, "x"),
        **values,
    )
    records_refresh(organisation=org, record_ids=[record.pk])
    record.refresh_from_db()
    return record


def sweep(org, at: dt.datetime, **kwargs) -> SweepRun:
    with time_machine.travel(at, tick=False):
        return sweep_run_inline(organisation=org, now=at, **kwargs)


def expiring_rules():
    """(slug, rule key) of every rule in the five files that expires by itself."""
    import yaml

    from retention.services.policies import POLICY_DIR

    for path in sorted(POLICY_DIR.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        overriding = {k for r in doc["retention_rules"] for k in r.get("overrides") or []}
        for rule in doc["retention_rules"]:
            if rule.get("period") and rule["action"] != "keep" and not rule.get("fields"):
                yield pytest.param(
                    path.stem,
                    rule["key"],
                    rule["key"] in overriding,
                    id=f"{path.stem}-{rule['key']}",
                )


@pytest.mark.parametrize(("slug", "key", "overridden"), list(expiring_rules()))
def test_a_record_survives_the_day_before_its_expiry_and_is_acted_on_the_day_after(
    organisations, slug, key, overridden
):
    rule = RetentionRule.objects.get(organisation__slug=slug, key=key)
    event = dt.datetime(2024, 1, 31, 10, 0, tzinfo=STOCKHOLM)
    record = make_record(rule, event)
    expiry = expected_expiry(rule, event)
    assert record.expires_at == expiry

    run = sweep(organisations[slug], expiry - dt.timedelta(days=1))
    assert run.processed == 0
    assert Record.objects.filter(pk=record.pk, data=record.data).exists()

    run = sweep(organisations[slug], expiry + dt.timedelta(days=1))
    assert run.status == SweepRun.Status.COMPLETED
    remaining = Record.objects.filter(pk=record.pk).first()
    keeper = RetentionRule.objects.filter(overrides=rule).first() if overridden else None
    if keeper is not None and set(record.data) & set(keeper.fields):
        # Only the fields a legal-obligation rule keeps survive, until that rule's date.
        assert run.rule_counts[key]["reduced"] == 1
        assert remaining.rule == keeper
        assert set(remaining.data) == set(record.data) & set(keeper.fields)
        assert remaining.expires_at is not None
    elif keeper is not None:
        # A record with none of the kept fields (a health note, a course result) is not
        # kept for the law: it is deleted like any other.
        assert remaining is None
        assert run.rule_counts[key]["deleted"] == 1
    elif rule.action == "delete":
        assert remaining is None
        assert run.rule_counts[key]["deleted"] == 1
    elif rule.action == "anonymise":
        assert not set(remaining.data) & set(rule.anonymise_fields)
        assert remaining.anonymised_at is not None
    else:
        assert remaining.restricted_at is not None


@pytest.mark.parametrize(
    ("event", "unit", "value", "expected"),
    [
        ("2026-11-30", "months", 3, "2027-02-28"),  # no 30 February
        ("2027-11-30", "months", 3, "2028-02-29"),  # leap year
        ("2024-02-29", "years", 1, "2025-02-28"),
        ("2026-01-31", "months", 1, "2026-02-28"),
        ("2026-12-31", "weeks", 3, "2027-01-21"),
    ],
)
def test_months_and_years_are_calendar_arithmetic(organisations, event, unit, value, expected):
    rule = RetentionRule.objects.get(organisation__slug="framsteget", key="credit_check")
    rule.period_unit, rule.period_value = unit, value
    rule.save()
    at = dt.datetime.fromisoformat(event).replace(hour=12, tzinfo=STOCKHOLM)
    record = make_record(rule, at)
    assert record.expires_at.astimezone(STOCKHOLM).date().isoformat() == expected


def test_the_coaching_period_counts_from_the_end_of_the_calendar_year(organisations):
    rule = RetentionRule.objects.get(
        organisation__slug="coachen", period_value=5, period_unit="years"
    )
    record = make_record(rule, dt.datetime(2021, 3, 15, tzinfo=STOCKHOLM))
    assert record.expires_at == dt.datetime(2027, 1, 1, tzinfo=STOCKHOLM)


def test_an_unpaid_invoice_never_expires_while_unpaid(organisations):
    rule = RetentionRule.objects.get(organisation__slug="framsteget", key="paid_invoice")
    record = make_record(rule, dt.datetime(2020, 1, 1, tzinfo=dt.UTC), settled_at=None)
    assert record.expires_at is None
    sweep(organisations["framsteget"], dt.datetime(2040, 1, 1, tzinfo=dt.UTC))
    assert Record.objects.filter(pk=record.pk).exists()


def test_a_paid_invoice_keeps_its_bookkeeping_fields_until_the_end_of_the_seventh_year(
    organisations,
):
    org = organisations["framsteget"]
    rule = RetentionRule.objects.get(organisation=org, key="paid_invoice")
    paid = dt.datetime(2025, 6, 10, 12, tzinfo=STOCKHOLM)
    record = make_record(rule, paid)
    assert record.expires_at == dt.datetime(2026, 12, 10, 12, tzinfo=STOCKHOLM)

    sweep(org, dt.datetime(2026, 12, 11, tzinfo=STOCKHOLM))
    record.refresh_from_db()
    assert record.rule.key == "bookkeeping"
    assert "email" not in record.data and "due_date" not in record.data
    assert {"invoice_number", "amount", "vat"} <= set(record.data)
    # Paid in 2025: kept to the end of 2032 (7 years after the end of 2025).
    assert record.expires_at == dt.datetime(2033, 1, 1, tzinfo=STOCKHOLM)

    sweep(org, dt.datetime(2032, 12, 30, tzinfo=STOCKHOLM))
    assert Record.objects.filter(pk=record.pk).exists()
    sweep(org, dt.datetime(2033, 1, 2, tzinfo=STOCKHOLM))
    assert not Record.objects.filter(pk=record.pk).exists()


def test_a_deleted_record_leaves_its_disclosures_with_no_record(organisations):
    org = organisations["framsteget"]
    rule = RetentionRule.objects.get(organisation=org, key="ip_addresses")
    record = make_record(rule, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    # The subject keeps another record (customer data, kept until 2027), so it stays, and so
    # does the history of what was disclosed; a subject's last record takes its disclosures
    # with it (tests/retention/test_sweep_subjects.py).
    customer = RetentionRule.objects.get(organisation=org, key="customer_data")
    make_record(customer, dt.datetime(2026, 1, 1, tzinfo=dt.UTC), subject=record.subject)
    disclosure = Disclosure.objects.create(
        organisation=org,
        recipient=org.recipients.first(),
        subject=record.subject,
        record=record,
        category=record.category,
        disclosed_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
    )
    sweep(org, dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    disclosure.refresh_from_db()
    assert disclosure.record_id is None


@pytest.mark.parametrize("scope", ["organisation", "subject", "category"])
def test_holds_block_the_sweep_and_lifting_them_lets_the_next_sweep_act(organisations, scope):
    org = organisations["framsteget"]
    rule = RetentionRule.objects.get(organisation=org, key="ip_addresses")
    record = make_record(rule, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    hold = hold_place(
        organisation=org,
        reason="Police request 2026-123",
        subject=record.subject if scope == "subject" else None,
        category=record.category if scope == "category" else None,
    )
    run = sweep(org, dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    assert run.processed == 0
    assert Record.objects.filter(pk=record.pk).exists()

    hold_lift(hold=hold)
    sweep(org, dt.datetime(2026, 6, 2, tzinfo=dt.UTC))
    assert not Record.objects.filter(pk=record.pk).exists()


def test_a_hold_on_another_subject_does_not_block(organisations):
    org = organisations["framsteget"]
    rule = RetentionRule.objects.get(organisation=org, key="ip_addresses")
    record = make_record(rule, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    other = make_record(rule, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    hold_place(organisation=org, reason="dispute", subject=other.subject)
    sweep(org, dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    assert not Record.objects.filter(pk=record.pk).exists()
    assert Record.objects.filter(pk=other.pk).exists()


def test_rerunning_a_sweep_changes_nothing(organisations):
    org = organisations["framsteget"]
    rule = RetentionRule.objects.get(organisation=org, key="ip_addresses")
    for _ in range(5):
        make_record(rule, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    at = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    first = sweep(org, at)
    assert first.rule_counts["ip_addresses"]["deleted"] == 5
    snapshot = list(Record.objects.values().order_by("id"))
    second = sweep(org, at)
    assert second.processed == 0
    assert list(Record.objects.values().order_by("id")) == snapshot


def test_a_dry_run_counts_but_changes_nothing(organisations):
    org = organisations["framsteget"]
    rule = RetentionRule.objects.get(organisation=org, key="ip_addresses")
    for _ in range(7):
        make_record(rule, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    run = sweep(org, dt.datetime(2026, 6, 1, tzinfo=dt.UTC), dry_run=True, batch_size=3)
    assert run.rule_counts["ip_addresses"]["deleted"] == 7
    assert Record.objects.filter(organisation=org).count() == 7


def test_each_run_is_recorded_with_counts_and_audited_without_personal_data(organisations):
    org = organisations["framsteget"]
    rule = RetentionRule.objects.get(organisation=org, key="ip_addresses")
    record = make_record(rule, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    Record.objects.filter(pk=record.pk).update(data={"ip_address": "198.51.100.77"})
    run = sweep(org, dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    assert run.finished_at is not None and run.duration_seconds >= 0
    entry = AuditEntry.objects.get(action="retention.sweep.completed", object_id=str(run.pk))
    assert entry.data["counts"]["ip_addresses"]["deleted"] == 1
    assert "198.51.100.77" not in json.dumps(entry.data)


def _bulk_expired(org, rows: int, prefix: str) -> None:
    rule = RetentionRule.objects.get(organisation=org, key="ip_addresses")
    category, purpose = _category_and_purpose(rule)
    subject = DataSubject.objects.create(organisation=org, external_id=f"bulk-{prefix}")
    Record.objects.bulk_create(
        Record(
            organisation=org,
            subject=subject,
            category=category,
            purpose=purpose,
            external_id=f"{prefix}-{i}",
            source="observed",
            data={"ip_address": "192.0.2.1"},
            collected_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        )
        for i in range(rows)
    )
    records_refresh(organisation=org)


def test_the_query_count_does_not_grow_with_the_number_of_rows(organisations):
    org = organisations["framsteget"]
    counts = []
    for rows in (10, 500):
        _bulk_expired(org, rows, prefix=str(rows))
        with CaptureQueriesContext(connection) as queries:
            sweep(org, dt.datetime(2026, 6, 1, tzinfo=dt.UTC), batch_size=1000)
        assert not Record.objects.filter(organisation=org).exists()
        counts.append(len(queries))
    assert counts[0] == counts[1]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_process_each_record_once(organisations):
    org = organisations["framsteget"]
    _bulk_expired(org, 2000, prefix="c")
    at = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    runs, errors = [], []

    def one_sweep():
        try:
            runs.append(sweep_run_inline(organisation=org, now=at, batch_size=50))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one_sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    deleted = [r.rule_counts.get("ip_addresses", {}).get("deleted", 0) for r in runs]
    assert sum(deleted) == 2000
    assert not Record.objects.filter(organisation=org).exists()


def test_changing_a_rule_in_the_policy_file_recomputes_expiries(organisations, tmp_path):
    import yaml

    from retention.services.policies import POLICY_DIR, policies_load

    rule = RetentionRule.objects.get(organisation__slug="framsteget", key="ip_addresses")
    record = make_record(rule, dt.datetime(2026, 1, 1, 12, tzinfo=STOCKHOLM))
    assert record.expires_at == dt.datetime(2026, 1, 22, 12, tzinfo=STOCKHOLM)
    doc = yaml.safe_load((POLICY_DIR / "framsteget.yaml").read_text())
    for entry in doc["retention_rules"]:
        if entry["key"] == "ip_addresses":
            entry["period"] = {"days": 10}
    path = tmp_path / "framsteget.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    policies_load(paths=[path])
    record.refresh_from_db()
    assert record.expires_at == dt.datetime(2026, 1, 11, 12, tzinfo=STOCKHOLM)


def test_the_sweep_command_dry_runs_one_organisation(organisations):
    from io import StringIO

    from django.core.management import call_command

    rule = RetentionRule.objects.get(organisation__slug="framsteget", key="ip_addresses")
    make_record(rule, dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    out = StringIO()
    call_command("sweep", "--organisation", "framsteget", "--dry-run", stdout=out)
    assert "framsteget: would act on 1 records" in out.getvalue()
    assert "ip_addresses: deleted 1" in out.getvalue()
    assert Record.objects.filter(organisation__slug="framsteget").count() == 1


def test_loading_policies_schedules_a_nightly_sweep_per_organisation(organisations):
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    call_command("load_policies", verbosity=0)
    names = set(PeriodicTask.objects.values_list("name", flat=True))
    assert {f"retention sweep: {slug}" for slug in organisations} <= names
