"""Every retention period the five seeds state, at its day boundary.

Against the real policy files (the `organisations` fixture loads retention/policies/) and the
real database: the record is kept the day before its end, and the day after it is gone, or
reduced to exactly the fields a law keeps. Each test quotes the seed's sentence; the README's
retention section maps each promise to its rule and its test.
"""

import datetime as dt

from retention.models import DataSubject, Organisation, Record, RetentionRule
from retention.services.expiry import records_refresh
from tests.retention.test_sweeps import STOCKHOLM, sweep

DAY = dt.timedelta(days=1)


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=STOCKHOLM)


def record_of(slug: str, purpose: str, category: str, data: dict | None = None, **events):
    org = Organisation.objects.get(slug=slug)
    subject = DataSubject.objects.create(
        organisation=org, external_id=f"{purpose}-{category}-{DataSubject.objects.count()}"
    )
    cat = org.categories.get(key=category)
    events.setdefault("collected_at", at(2018, 1, 10, 12))
    record = Record.objects.create(
        organisation=org,
        subject=subject,
        category=cat,
        purpose=org.purposes.get(key=purpose),
        external_id=f"r-{subject.external_id}",
        source="provided",
        data=data if data is not None else {key: f"{key}-value" for key in cat.fields},
        **events,
    )
    records_refresh(organisation=org, record_ids=[record.pk])
    record.refresh_from_db()
    return record


def assert_boundary(record: Record, expiry: dt.datetime, *, rule: str, kept: str | None = None):
    """Kept the day before `expiry`; the day after, gone, or reduced to the fields of `kept`."""
    org = record.organisation
    assert record.rule.key == rule
    assert record.expires_at == expiry
    data = dict(record.data)

    sweep(org, expiry - DAY)
    assert Record.objects.get(pk=record.pk).data == data

    sweep(org, expiry + DAY)
    if kept is None:
        assert not Record.objects.filter(pk=record.pk).exists()
        return None
    keeper = RetentionRule.objects.get(organisation=org, key=kept)
    reduced = Record.objects.get(pk=record.pk)
    assert reduced.rule == keeper
    assert set(reduced.data) == set(data) & set(keeper.fields)
    assert {k: data[k] for k in reduced.data} == reduced.data
    return reduced


# --- 000 Prognoscentret ----------------------------------------------------------------------


def test_prognoscentret_keeps_data_two_years_after_the_purpose_ended(organisations):
    """Seed 000: "All information som Prognoscentret samlar kan lagras i upp till två år efter
    att syftet med behandlingen är avslutad." """
    record = record_of(
        "prognoscentret", "contract", "contract_purchase", purpose_ended_at=at(2024, 3, 15, 12)
    )
    assert_boundary(record, at(2026, 3, 15, 12), rule="purpose_ended")


def test_prognoscentret_survey_answers_on_consent_go_two_years_after_the_survey(organisations):
    """Seed 000: "Viss hantering sker endast om du först samtyckt till det, t.ex. genom att
    delta i en av våra kundundersökningar." - the surveys purpose is based on consent, and its
    answers follow the two-year rule from the end of the purpose."""
    record = record_of("prognoscentret", "surveys", "survey", purpose_ended_at=at(2024, 11, 30, 9))
    assert record.purpose.legal_basis == "consent"
    assert_boundary(record, at(2026, 11, 30, 9), rule="purpose_ended")


# --- 001 Prokompetens ------------------------------------------------------------------------


def test_prokompetens_deletes_course_data_a_year_after_the_subscription_ended(organisations):
    """Seed 001: "Uppgifter sparas upp till ett år efter att det abonnemang du använt vid
    aktuell(-a) utbildning(-ar) har avslutats." Course results are not accounting records:
    deleted, not kept for bookkeeping."""
    record = record_of(
        "prokompetens", "course_access", "course_progress", contract_ended_at=at(2025, 2, 28, 16)
    )
    assert_boundary(record, at(2026, 2, 28, 16), rule="subscription_end")


def test_prokompetens_keeps_only_the_bookkeeping_fields_of_an_invoice_after_a_year(
    organisations,
):
    """Seed 001: "Dina personuppgifter sparas längre än vad som angetts ovan i de fall vi är
    skyldiga att göra det enligt lag, förordning eller myndighetsbeslut." After the one-year
    rule the invoice keeps only what Bokföringslagen requires, until the end of the seventh
    year after the calendar year in which the financial year of the payment ended."""
    record = record_of(
        "prokompetens",
        "collaboration",
        "invoicing",
        contract_ended_at=at(2025, 2, 28, 16),
        settled_at=at(2024, 10, 1, 12),
    )
    reduced = assert_boundary(
        record, at(2026, 2, 28, 16), rule="subscription_end", kept="bookkeeping"
    )
    assert_boundary(reduced, at(2032, 1, 1), rule="bookkeeping")


# --- 002 Coachen -----------------------------------------------------------------------------


def test_coachen_deletes_customer_data_five_years_from_the_end_of_the_contract_year(
    organisations,
):
    """Seed 002: "Vi sparar dina personuppgifter under avtalstiden. Därefter sparar vi normalt
    uppgifterna i högst 5 år, räknat från utgången av det år avtalet upphör." """
    record = record_of("coachen", "contract", "contact", contract_ended_at=at(2021, 3, 15, 12))
    assert_boundary(record, at(2027, 1, 1), rule="customer")


def test_coachen_deletes_health_data_with_the_customer_data_never_keeps_it_for_bookkeeping(
    organisations,
):
    """Seed 002: "Därefter sparar vi normalt uppgifterna i högst 5 år, räknat från utgången av
    det år avtalet upphör." Bokföringslagen covers accounting records, not health notes."""
    record = record_of(
        "coachen", "coaching_health", "health", contract_ended_at=at(2021, 3, 15, 12)
    )
    assert_boundary(record, at(2027, 1, 1), rule="customer")


def test_coachen_keeps_only_the_bookkeeping_fields_of_a_purchase_until_the_seventh_year(
    organisations,
):
    """Seed 002: "Vi sparar och använder därutöver information om dina köp och betalningar."
    and "Därefter sparar vi normalt uppgifterna i högst 5 år, räknat från utgången av det år
    avtalet upphör." A purchase paid in 2024 in a contract that ended in 2021 (a long
    payment plan) keeps only its accounting fields when the 5 years end, until the end of
    2031 (Bokföringslagen 7 kap. 2 §)."""
    record = record_of(
        "coachen",
        "contract",
        "purchases",
        contract_ended_at=at(2021, 3, 15, 12),
        settled_at=at(2024, 6, 1, 12),
    )
    reduced = assert_boundary(record, at(2027, 1, 1), rule="customer", kept="bookkeeping")
    assert "payment_method" not in reduced.data
    assert_boundary(reduced, at(2032, 1, 1), rule="bookkeeping")


def test_coachen_deletes_an_enquiry_three_months_after_the_last_contact(organisations):
    """Seed 002: "Om du inte ingår avtal med oss, men till exempel i en kontakt har lämnat
    personuppgifter till oss, sparar vi normalt de uppgifterna i högst tre månader." """
    record = record_of(
        "coachen",
        "enquiries",
        "correspondence",
        collected_at=at(2025, 9, 1, 10),
        last_contact_at=at(2025, 11, 30, 10),
    )
    assert_boundary(record, at(2026, 2, 28, 10), rule="non_customer")


def test_coachen_deletes_a_visitors_marketing_data_three_months_after_the_visit(organisations):
    """Seed 002: "Om du inte ingår avtal med oss, men till exempel i en kontakt har lämnat
    personuppgifter till oss, sparar vi normalt de uppgifterna i högst tre månader." A visitor
    who never signed: their cookie and IP address for marketing, with no later contact, go
    three months after they were collected - not never."""
    record = record_of(
        "coachen", "marketing_non_customers", "online_identifiers", collected_at=at(2026, 1, 31, 8)
    )
    assert_boundary(record, at(2026, 4, 30, 8), rule="non_customer")


def test_coachen_keeps_a_customers_marketing_data_under_the_customer_rule(organisations):
    """Seed 002: "Vi sparar dina personuppgifter under avtalstiden. Därefter sparar vi normalt
    uppgifterna i högst 5 år, räknat från utgången av det år avtalet upphör." """
    record = record_of(
        "coachen", "marketing", "online_identifiers", contract_ended_at=at(2022, 12, 31, 23)
    )
    assert_boundary(record, at(2028, 1, 1), rule="customer")


def test_coachen_deletes_information_given_on_consent_with_the_customer_data(organisations):
    """Seed 002: "I vissa fall behöver vi ditt samtycke för att behandla dina personuppgifter."
    Consent-based information follows the general rule unless consent is withdrawn earlier."""
    record = record_of(
        "coachen",
        "consent_based",
        "consented_information",
        contract_ended_at=at(2021, 6, 1, 12),
    )
    assert record.purpose.legal_basis == "consent"
    assert_boundary(record, at(2027, 1, 1), rule="customer")


# --- 003 FRAMSTEGET --------------------------------------------------------------------------


def test_framsteget_deletes_customer_data_twelve_months_after_the_contract(organisations):
    """Seed 003: "När avtalet mellan oss har upphört raderas de (eller anonymiseras) inom 12
    månader, förutom då vi enligt lag är skyldiga att spara dem under en längre tid
    (exempelvis enligt bokföringslagen)." """
    record = record_of(
        "framsteget", "service_delivery", "customer_contact", contract_ended_at=at(2025, 1, 31, 12)
    )
    assert_boundary(record, at(2026, 1, 31, 12), rule="customer_data")


def test_framsteget_reduces_a_paid_invoice_after_18_months_and_keeps_bookkeeping_7_years(
    organisations,
):
    """Seed 003: "När fakturan är betald raderas uppgifterna efter 18 månader, förutom de
    uppgifter som krävs för att följa lagkrav enligt bokföringslagen." """
    record = record_of("framsteget", "billing", "invoice", settled_at=at(2025, 6, 10, 12))
    reduced = assert_boundary(record, at(2026, 12, 10, 12), rule="paid_invoice", kept="bookkeeping")
    assert "email" not in reduced.data and "due_date" not in reduced.data
    assert_boundary(reduced, at(2033, 1, 1), rule="bookkeeping")


def test_framsteget_keeps_an_unpaid_invoice_until_it_is_settled(organisations):
    """Seed 003: "När det gäller en obetald faktura sparas uppgifterna till dess att fordran
    är reglerad." No payment, no expiry; paid, the 18 months start."""
    record = record_of("framsteget", "billing", "invoice")
    assert record.expires_at is None
    sweep(record.organisation, at(2040, 1, 1))
    assert Record.objects.filter(pk=record.pk).exists()
    Record.objects.filter(pk=record.pk).update(settled_at=at(2040, 1, 5, 12))
    records_refresh(organisation=record.organisation, record_ids=[record.pk])
    record.refresh_from_db()
    assert record.expires_at == at(2041, 7, 5, 12)


def test_framsteget_deletes_credit_checks_three_months_after_collection(organisations):
    """Seed 003: "Kreditupplysningsinformation raderas efter maximalt 3 månader från
    inhämtande." """
    record = record_of(
        "framsteget", "credit_check", "credit_check", collected_at=at(2025, 11, 30, 14)
    )
    assert_boundary(record, at(2026, 2, 28, 14), rule="credit_check")


def test_framsteget_deletes_fault_finding_data_after_six_months(organisations):
    """Seed 003: "För att kunna avhjälpa eventuella fel på den tjänst du har beställt och
    förbättra tjänstens funktioner sparar vi uppgifter i maximalt 6 månader." """
    record = record_of(
        "framsteget", "service_development", "fault_finding", collected_at=at(2025, 8, 31, 9)
    )
    assert_boundary(record, at(2026, 2, 28, 9), rule="fault_finding")


def test_framsteget_deletes_ip_addresses_after_three_weeks(organisations):
    """Seed 003: "För att kunna begränsa skada från och förhindra internetbedrägerier samt
    spridning av skadlig kod (virus, trojaner, m.m.), sparar vi i tre veckor IP-adresser." """
    record = record_of(
        "framsteget", "information_security", "ip_address", collected_at=at(2026, 3, 20, 22)
    )
    assert_boundary(record, at(2026, 4, 10, 22), rule="ip_addresses")


def test_framsteget_data_given_on_consent_follows_the_customer_data_rule(organisations):
    """Seed 003: "(4) i specifika fall, efter att du har lämnat ditt samtycke till just den
    behandlingen." Consent-based Kunduppgifter are Kunduppgifter: 12 months after the
    contract, unless consent is withdrawn earlier."""
    record = record_of(
        "framsteget", "consent_based", "communications", contract_ended_at=at(2025, 5, 5, 5)
    )
    assert record.purpose.legal_basis == "consent"
    assert_boundary(record, at(2026, 5, 5, 5), rule="customer_data")


# --- 004 Expektra ----------------------------------------------------------------------------


def test_expektra_keeps_the_customer_register_after_the_contract_until_erasure(organisations):
    """Seed 004: "Personuppgifterna kommer att sparas efter att avtalet upphört, men kan
    raderas på begäran." No end date by the policy's own words (a policy gap the checker
    reports); erasure is on request."""
    record = record_of(
        "expektra", "customer_register", "client_contact", contract_ended_at=at(2020, 1, 1, 12)
    )
    assert record.expires_at is None
    sweep(record.organisation, at(2040, 1, 1))
    assert Record.objects.filter(pk=record.pk).exists()
    gaps = {g["entry"] for g in Organisation.objects.get(slug="expektra").policy_gaps}
    assert "retention_rules[0] (customer_register)" in gaps


def test_expektra_deletes_the_session_identifier_a_day_after_the_session(organisations):
    """Seed 004: "Denna cookie lagras inte permanent utan försvinner så fort du stänger din
    webbläsare." """
    record = record_of(
        "expektra", "session_cookies", "session_cookie", last_contact_at=at(2026, 2, 1, 17)
    )
    assert record.purpose.legal_basis == "consent"
    assert_boundary(record, at(2026, 2, 2, 17), rule="session")
