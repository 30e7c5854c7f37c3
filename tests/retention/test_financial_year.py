"""Bookkeeping periods count from the financial year, not the calendar year.

Bokföringslagen (1999:1078) 7 kap. 2 §: räkenskapsinformation ska bevaras "fram till och med
det sjunde året efter utgången av det kalenderår då räkenskapsåret avslutades". With a broken
financial year (July to June), a payment in September 2025 belongs to the financial year that
ends on 30 June 2026: it is kept to the end of 2033, a year longer than the calendar-year
reading would keep it.
"""

import pytest

from retention.models import Organisation, Record
from retention.services.policies import POLICY_DIR, PolicyError, policies_load
from tests.retention.test_seed_periods import assert_boundary, at, record_of


def framsteget_with_financial_year(tmp_path, value: str) -> Organisation:
    text = (POLICY_DIR / "framsteget.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "  time_zone: Europe/Stockholm\n",
        f'  time_zone: Europe/Stockholm\n  financial_year_end: "{value}"\n',
        1,
    )
    path = tmp_path / "framsteget.yaml"
    path.write_text(text, encoding="utf-8")
    policies_load(paths=[path])
    return Organisation.objects.get(slug="framsteget")


@pytest.mark.parametrize(
    ("paid", "kept_until"),
    [
        # The financial year July 2025 - June 2026 ends in 2026: kept to the end of 2033.
        (at(2025, 9, 15, 12), at(2034, 1, 1)),
        (at(2025, 7, 1, 0, 30), at(2034, 1, 1)),
        # The financial year July 2024 - June 2025 ends in 2025: kept to the end of 2032.
        (at(2025, 6, 30, 23, 30), at(2033, 1, 1)),
        (at(2025, 5, 10, 12), at(2033, 1, 1)),
    ],
)
def test_a_broken_financial_year_keeps_accounting_records_to_the_seventh_year_after_it_ended(
    organisations, tmp_path, paid, kept_until
):
    """Bokföringslagen 7 kap. 2 §, with a financial year from July to June: kept the day
    before the end of the seventh year after the calendar year the financial year ended,
    gone the day after."""
    org = framsteget_with_financial_year(tmp_path, "06-30")
    assert org.financial_year_end == "06-30"
    invoice = record_of("framsteget", "billing", "invoice", settled_at=paid)
    reduced = assert_boundary(invoice, invoice.expires_at, rule="paid_invoice", kept="bookkeeping")
    assert_boundary(reduced, kept_until, rule="bookkeeping")


def test_the_calendar_year_is_assumed_when_the_policy_states_no_financial_year(organisations):
    """Bokföringslagen 7 kap. 2 §; with no `financial_year_end` the financial year is the
    calendar year (and the checker tells staff it was assumed)."""
    org = organisations["framsteget"]
    assert org.financial_year_end == "12-31"
    invoice = record_of("framsteget", "billing", "invoice", settled_at=at(2025, 9, 15, 12))
    reduced = assert_boundary(invoice, invoice.expires_at, rule="paid_invoice", kept="bookkeeping")
    assert reduced.expires_at == at(2033, 1, 1)
    assert "financial_year_assumed" in {g["code"] for g in org.policy_gaps}


def test_changing_the_financial_year_recomputes_the_dates_of_kept_records(organisations, tmp_path):
    invoice = record_of("framsteget", "billing", "invoice", settled_at=at(2025, 9, 15, 12))
    reduced = assert_boundary(invoice, invoice.expires_at, rule="paid_invoice", kept="bookkeeping")
    assert reduced.expires_at == at(2033, 1, 1)
    framsteget_with_financial_year(tmp_path, "06-30")
    assert Record.objects.get(pk=reduced.pk).expires_at == at(2034, 1, 1)


@pytest.mark.parametrize("value", ["06-15", "13-31", "6-30", "2026-06-30", "04-31"])
def test_a_financial_year_end_that_is_not_the_last_day_of_a_month_is_refused(
    organisations, tmp_path, value
):
    """A Swedish financial year is twelve whole calendar months (Bokföringslagen 3 kap.)."""
    with pytest.raises(PolicyError, match="financial_year_end"):
        framsteget_with_financial_year(tmp_path, value)


@pytest.mark.parametrize("value", ["02-28", "02-29", "04-30", "08-31"])
def test_month_ends_are_accepted(organisations, tmp_path, value):
    assert framsteget_with_financial_year(tmp_path, value).financial_year_end == value
