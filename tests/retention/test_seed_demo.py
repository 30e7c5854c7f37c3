"""demo_seed and `manage.py seed_demo`: realistic demo data consistent with the policies."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Max

from retention.demo import FIXED_PEOPLE, ORGANISATION_SLUGS, DemoError, demo_seed
from retention.identifiers import normalise_personnummer
from retention.models import DataSubject, Disclosure, Organisation, Record, SubjectIdentifier
from retention.services.records import record_rules_for_organisation

pytestmark = pytest.mark.django_db

TODAY = dt.date(2025, 6, 15)
NOW = dt.datetime(2025, 6, 15, tzinfo=dt.UTC)


def state() -> dict:
    """Row counts and highest ids of everything the seed writes."""
    return {
        model.__name__: (model.objects.count(), model.objects.aggregate(m=Max("id"))["m"])
        for model in (DataSubject, SubjectIdentifier, Record, Disclosure)
    }


def test_it_seeds_every_organisation_with_records_that_fit_its_policy(organisations):
    result = demo_seed(subjects=300, today=TODAY)

    assert result.per_organisation == dict.fromkeys(ORGANISATION_SLUGS, 60)
    assert DataSubject.objects.count() == 300 + len(FIXED_PEOPLE)
    for slug in ORGANISATION_SLUGS:
        organisation = organisations[slug]
        rules = record_rules_for_organisation(organisation=organisation)
        records = Record.objects.filter(organisation=organisation).select_related(
            "category", "purpose", "subject"
        )
        assert records.count() > 60, slug
        for record in records:
            assert record.category.organisation_id == organisation.pk
            assert record.purpose.categories.filter(pk=record.category_id).exists()
            assert set(record.data) == set(record.category.fields), record.external_id
            assert record.rule_id == rules[(record.category_id, record.purpose_id)].pk
            assert record.subject.organisation_id == organisation.pk
            # Expiries are computed at seeding, only for rules that expire.
            if record.expires_at is not None:
                assert record.rule.period_value and record.rule.action != "keep"
            assert record.collected_at <= NOW
        assert Disclosure.objects.filter(organisation=organisation).exists(), slug


def test_every_subject_has_an_email_and_some_a_phone_personnummer_and_customer_number(
    organisations,
):
    demo_seed(subjects=300, today=TODAY)

    subjects_with_email = SubjectIdentifier.objects.filter(kind="email").values("subject")
    assert DataSubject.objects.exclude(pk__in=subjects_with_email).count() == 0
    for kind in ("phone", "personnummer", "customer_number"):
        assert 0 < SubjectIdentifier.objects.filter(kind=kind).count() < 303 + 1, kind
    for value in SubjectIdentifier.objects.filter(kind="personnummer").values_list(
        "value", flat=True
    ):
        assert normalise_personnummer(value) == value
    # Prognoscentret's prospects and Coachen's enquirers never were customers.
    for slug in ("prognoscentret", "coachen"):
        customers = SubjectIdentifier.objects.filter(
            organisation=organisations[slug], kind="customer_number"
        ).count()
        assert 0 < customers < 60, slug


def test_it_spreads_events_so_some_records_are_past_their_retention(organisations):
    demo_seed(subjects=300, today=TODAY)

    framsteget = Record.objects.filter(organisation=organisations["framsteget"])
    ip = framsteget.filter(category__key="ip_address")
    assert ip.filter(collected_at__lt=NOW - dt.timedelta(weeks=3)).exists()
    assert ip.filter(collected_at__gte=NOW - dt.timedelta(weeks=3)).exists()
    invoices = framsteget.filter(category__key="invoice")
    assert invoices.filter(settled_at__isnull=True).exists()
    assert invoices.filter(settled_at__lt=NOW - dt.timedelta(days=548)).exists()
    assert invoices.filter(settled_at__gte=NOW - dt.timedelta(days=548)).exists()
    assert framsteget.filter(
        category__key="fault_finding", collected_at__lt=NOW - dt.timedelta(days=183)
    ).exists()
    prospects = Record.objects.filter(
        organisation=organisations["prognoscentret"], category__key="prospect"
    )
    assert prospects.exists()
    assert set(prospects.values_list("source", flat=True)) == {"third_party"}
    surveys = Record.objects.filter(
        organisation=organisations["prognoscentret"], category__key="survey"
    )
    assert set(surveys.values_list("purpose__legal_basis", flat=True)) == {"consent"}
    coachen = Record.objects.filter(organisation=organisations["coachen"])
    assert coachen.filter(contract_ended_at__year__lt=TODAY.year).exists()
    assert coachen.filter(last_contact_at__lt=NOW - dt.timedelta(days=92)).exists()
    assert coachen.filter(category__special=True).exists()
    prokompetens = Record.objects.filter(organisation=organisations["prokompetens"])
    assert prokompetens.filter(contract_ended_at__lt=NOW - dt.timedelta(days=366)).exists()
    assert prokompetens.filter(
        category__key="course_progress", data__test_result__isnull=False
    ).exists()


def test_it_changes_nothing_when_run_twice(organisations):
    demo_seed(subjects=300, today=TODAY)
    before = state()
    data_before = list(Record.objects.order_by("pk").values("external_id", "data", "updated_at"))

    result = demo_seed(subjects=300, today=TODAY)

    assert state() == before
    assert list(Record.objects.order_by("pk").values("external_id", "data", "updated_at")) == (
        data_before
    )
    assert result.counts.subjects_created == 0
    assert result.subjects_existing == 300 + len(FIXED_PEOPLE)
    assert result.counts.records_created == 0
    assert result.counts.disclosures_created == 0
    assert result.counts.identifiers_created == 0


def test_it_changes_nothing_when_run_again_on_a_later_day(organisations):
    demo_seed(subjects=50, today=TODAY)
    before = state()

    demo_seed(subjects=50, today=TODAY + dt.timedelta(days=40))

    assert state() == before


def test_a_larger_run_keeps_the_subjects_of_a_smaller_one_and_adds_the_rest(organisations):
    demo_seed(subjects=50, today=TODAY)
    small = {r.external_id: r.data for r in Record.objects.all()}

    result = demo_seed(subjects=100, today=TODAY)

    assert result.counts.subjects_created == 50
    assert {r.external_id: r.data for r in Record.objects.filter(external_id__in=small)} == small


def test_it_does_not_bring_back_records_erased_from_an_existing_subject(organisations):
    demo_seed(subjects=0, today=TODAY)
    Record.objects.filter(
        subject__external_id="demo-coachen-erik-lindqvist", category__key="health"
    ).delete()

    demo_seed(subjects=0, today=TODAY)

    assert not Record.objects.filter(
        subject__external_id="demo-coachen-erik-lindqvist", category__key="health"
    ).exists()


def test_the_same_seed_gives_the_same_people(organisations):
    demo_seed(subjects=20, seed=7, today=TODAY)
    first = sorted(SubjectIdentifier.objects.values_list("kind", "value"))
    DataSubject.objects.all().delete()

    demo_seed(subjects=20, seed=7, today=TODAY)

    assert sorted(SubjectIdentifier.objects.values_list("kind", "value")) == first


def test_the_fixed_demo_people_exist_with_what_walkthroughs_rely_on(organisations):
    demo_seed(subjects=0, today=TODAY)

    for person in FIXED_PEOPLE:
        identifier = SubjectIdentifier.objects.get(kind="email", value=person.email)
        assert identifier.subject.external_id == person.external_id
        assert identifier.organisation.slug == person.organisation
    anna = Record.objects.filter(subject__external_id="demo-framsteget-anna-andersson")
    invoices = anna.filter(category__key="invoice")
    assert invoices.filter(settled_at__isnull=True).count() == 1
    assert invoices.filter(settled_at__lt=NOW - dt.timedelta(days=548)).count() == 1
    assert invoices.filter(settled_at__gte=NOW - dt.timedelta(days=548)).count() == 1
    ips = anna.filter(category__key="ip_address")
    assert ips.filter(collected_at__lt=NOW - dt.timedelta(weeks=3)).count() == 1
    assert ips.get(collected_at__gte=NOW - dt.timedelta(weeks=3)).rule.key == "ip_addresses"
    assert Disclosure.objects.filter(subject__external_id="demo-framsteget-anna-andersson").exists()
    erik = Record.objects.filter(subject__external_id="demo-coachen-erik-lindqvist")
    assert erik.get(category__special=True).category.key == "health"
    assert SubjectIdentifier.objects.filter(
        subject__external_id="demo-coachen-erik-lindqvist", kind="personnummer"
    ).exists()
    maria = Record.objects.filter(subject__external_id="demo-prokompetens-maria-svensson")
    assert maria.filter(category__key="course_progress").count() == 2
    assert maria.filter(contract_ended_at__isnull=False).count() == maria.count()
    johan = Record.objects.get(subject__external_id="demo-prognoscentret-johan-berg")
    assert johan.source == "third_party"


def test_it_refuses_to_seed_before_the_policies_are_loaded(db):
    assert not Organisation.objects.exists()

    with pytest.raises(DemoError, match="load_policies"):
        demo_seed(subjects=10)


def test_the_command_prints_counts_timing_and_the_fixed_people(organisations):
    out = StringIO()

    call_command("seed_demo", "--subjects", "25", stdout=out)

    text = out.getvalue()
    assert f"subjects: {25 + len(FIXED_PEOPLE)} created, 0 existed (skipped)" in text
    assert "time: " in text
    assert "anna.andersson@example.se" in text
    assert DataSubject.objects.count() == 25 + len(FIXED_PEOPLE)


def test_the_command_reports_missing_policies_as_an_error(db):
    with pytest.raises(CommandError, match="load_policies"):
        call_command("seed_demo", "--subjects", "5", stdout=StringIO())
