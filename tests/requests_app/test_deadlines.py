"""The legal due date (Art. 12(3) GDPR, counted as Regulation 1182/71 Art. 3)."""

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

import holidays
import pytest

from requests_app import deadlines
from requests_app.deadlines import ExtensionError

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def received(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=STOCKHOLM)


def due(*args) -> dt.date:
    return deadlines.due_date_for(received(*args), "Europe/Stockholm")


def test_it_is_the_same_date_next_month():
    assert due(2025, 3, 12, 9, 0) == dt.date(2025, 4, 14)  # 12 April 2025 is a Saturday
    assert due(2025, 9, 10, 9, 0) == dt.date(2025, 10, 10)  # a Friday


def test_it_is_the_last_day_of_a_shorter_month():
    # 31 Jan 2025 + 1 month → 28 Feb 2025 (a Friday).
    assert due(2025, 1, 31, 12, 0) == dt.date(2025, 2, 28)
    # 30 Jan in a leap year → 29 Feb 2028 (a Tuesday).
    assert due(2028, 1, 30, 12, 0) == dt.date(2028, 2, 29)
    # 31 Jan 2028 → 29 Feb 2028, not 28.
    assert due(2028, 1, 31, 12, 0) == dt.date(2028, 2, 29)
    # 31 May → 30 June 2027 (a Wednesday).
    assert due(2027, 5, 31, 12, 0) == dt.date(2027, 6, 30)


def test_it_moves_a_weekend_to_monday():
    assert deadlines.add_months(dt.date(2025, 4, 5), 1) == dt.date(2025, 5, 5)
    # 14 June 2025 + 1 month = 14 July 2025? No: 14 July is a Monday; use 12 July (Saturday).
    assert due(2025, 6, 12, 10, 0) == dt.date(2025, 7, 14)  # Sat 12 July → Mon 14 July
    assert due(2025, 6, 13, 10, 0) == dt.date(2025, 7, 14)  # Sun 13 July → Mon 14 July


def test_it_moves_past_midsommarafton_and_midsommardagen():
    # 20 June 2025 is midsommarafton (Friday), 21 June midsommardagen, then Sunday.
    assert due(2025, 5, 20, 10, 0) == dt.date(2025, 6, 23)


def test_it_moves_past_julafton_juldagen_and_annandag_jul():
    # 24 Dec 2025 (Wednesday) julafton, 25 juldagen, 26 annandag jul, 27-28 weekend.
    assert due(2025, 11, 24, 10, 0) == dt.date(2025, 12, 29)


def test_it_moves_past_nyarsafton_and_nyarsdagen():
    # 31 Dec 2025 (Wednesday) nyårsafton, 1 Jan 2026 nyårsdagen → Friday 2 Jan.
    assert due(2025, 12, 1, 10, 0) == dt.date(2026, 1, 2)  # 1 Jan: nyårsdagen
    assert due(2025, 12, 31, 10, 0) == dt.date(2026, 2, 2)  # 31 Jan 2026 is a Saturday
    assert deadlines.next_working_day(dt.date(2025, 12, 31)) == dt.date(2026, 1, 2)


def test_it_moves_past_national_day_and_easter():
    assert deadlines.next_working_day(dt.date(2025, 6, 6)) == dt.date(2025, 6, 9)  # Fri → Mon
    # Good Friday 18 Apr 2025 … Easter Monday 21 Apr → Tuesday 22 Apr.
    assert due(2025, 3, 18, 10, 0) == dt.date(2025, 4, 22)


def test_it_counts_the_day_of_receipt_in_the_organisations_time_zone():
    # 23:30 UTC on 31 March is already 1 April in Stockholm (CEST, UTC+2).
    late = dt.datetime(2025, 3, 31, 23, 30, tzinfo=dt.UTC)
    assert deadlines.received_date(late, "Europe/Stockholm") == dt.date(2025, 4, 1)
    assert deadlines.due_date_for(late, "Europe/Stockholm") == dt.date(2025, 5, 2)  # 1 May: holiday
    assert deadlines.due_date_for(late, "UTC") == dt.date(2025, 4, 30)


def test_it_refuses_a_naive_datetime():
    with pytest.raises(ValueError):
        deadlines.received_date(dt.datetime(2025, 1, 1, 12), "Europe/Stockholm")


# --- The extension (Art. 12(3)), counted as Regulation 1182/71 Art. 3 ----------------------


def extended(received_on: str, months: int = 2) -> dt.date:
    return deadlines.extended_due_date(dt.date.fromisoformat(received_on), months)


def test_an_extension_counts_three_months_from_receipt_not_from_the_moved_due_date():
    """Art. 12(3): "within one month of receipt ... may be extended by two further months";
    1182/71 Art. 3(4): only the period's final end moves to the next working day.

    Received Saturday 31 January 2026: the month ends on 28 February, a Saturday, so the
    original limit is Monday 2 March; the extended limit is three months from receipt,
    Thursday 30 April 2026, not two months after 2 March (Monday 4 May).
    """
    assert due(2026, 1, 31, 12, 0) == dt.date(2026, 3, 2)
    assert extended("2026-01-31") == dt.date(2026, 4, 30)
    # The other way round: received Friday 31 January 2025, due Friday 28 February; two
    # further months end on 30 April 2025, not on 28 April.
    assert extended("2025-01-31") == dt.date(2025, 4, 30)


def test_an_extension_of_one_month_ends_two_months_after_receipt():
    """Art. 12(3) allows "two further months" at most; one further month is 1 + 1 months
    from receipt (1182/71 Art. 3(2)(c)), moved once to a working day."""
    assert extended("2026-01-31", 1) == dt.date(2026, 3, 31)  # not 2 April (2 March + 1)
    assert extended("2025-04-05", 1) == dt.date(2025, 6, 5)
    # 31 March 2026 + 2 months = 31 May, a Sunday → Monday 1 June.
    assert extended("2026-03-31", 1) == dt.date(2026, 6, 1)


@pytest.mark.parametrize(
    ("received_on", "expected"),
    [
        # 31 January → 30 April (April has no 31st: its last day, 1182/71 Art. 3(2)(c)).
        ("2026-01-31", "2026-04-30"),
        # 31 March → 30 June (a Tuesday).
        ("2026-03-31", "2026-06-30"),
        # 31 August → 30 November 2026 (a Monday).
        ("2026-08-31", "2026-11-30"),
        # 31 August 2025 → 30 November 2025, a Sunday → Monday 1 December.
        ("2025-08-31", "2025-12-01"),
        # 30 November 2026 → 28 February 2027, a Sunday → Monday 1 March.
        ("2026-11-30", "2027-03-01"),
        # 28 February 2026 (a Saturday) → 28 May 2026, a Thursday; the old count said 1 June.
        ("2026-02-28", "2026-05-28"),
    ],
)
def test_an_extension_ends_on_the_same_date_or_the_last_day_of_the_third_month(
    received_on, expected
):
    """1182/71 Art. 3(2)(c): a period of months ends on the same date in the last month, or
    on that month's last day when the date does not exist there."""
    assert extended(received_on) == dt.date.fromisoformat(expected)


def test_an_extension_across_a_leap_day():
    """1182/71 Art. 3(2)(c) in a leap year: 30 November 2027 + 3 months = 29 February 2028
    (a Tuesday); received on 29 February 2028, the limit is 29 May 2028 (a Monday)."""
    assert extended("2027-11-30") == dt.date(2028, 2, 29)
    assert extended("2027-11-29") == dt.date(2028, 2, 29)
    assert extended("2028-02-29") == dt.date(2028, 5, 29)
    # One further month from 30 November 2027: 30 January 2028 is a Sunday → Monday 31.
    assert extended("2027-11-30", 1) == dt.date(2028, 1, 31)


def test_an_extension_that_ends_on_a_weekend_ends_on_the_next_monday():
    """1182/71 Art. 3(4): a period whose last day is a Saturday or Sunday ends at the end of
    the following working day."""
    # 30 November 2025 + 3 months = Saturday 28 February 2026 → Monday 2 March.
    assert extended("2025-11-30") == dt.date(2026, 3, 2)
    # 30 May 2026 + 3 months = Sunday 30 August 2026 → Monday 31 August.
    assert extended("2026-05-30") == dt.date(2026, 8, 31)


@pytest.mark.parametrize(
    ("received_on", "expected", "holiday"),
    [
        # Friday 19 June 2026 is midsommarafton, Saturday 20 June midsommardagen.
        ("2026-03-19", "2026-06-22", "midsommarafton and midsommardagen"),
        # Friday 25 December 2026 is juldagen, Saturday 26 annandag jul.
        ("2026-09-25", "2026-12-28", "juldagen"),
        # Friday 1 January 2027 is nyårsdagen.
        ("2026-10-01", "2027-01-04", "nyårsdagen"),
        # Wednesday 6 January 2027 is trettondedag jul.
        ("2026-10-06", "2027-01-07", "trettondedag jul"),
    ],
)
def test_an_extension_that_ends_on_a_swedish_holiday_ends_on_the_next_working_day(
    received_on, expected, holiday
):
    """1182/71 Art. 3(4): a period whose last day is a public holiday ends at the end of the
    following working day (Swedish public holidays; lag (1930:173) 2 § adds midsommarafton,
    julafton and nyårsafton)."""
    assert extended(received_on) == dt.date.fromisoformat(expected), holiday


def _three_months_later(day: dt.date) -> dt.date:
    """Written out here, independently of `deadlines.add_months`."""
    carry, month0 = divmod(day.month - 1 + 3, 12)
    year, month = day.year + carry, month0 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _first_working_day_from(day: dt.date, closed: set[dt.date]) -> dt.date:
    while day.weekday() >= 5 or day in closed:
        day += dt.timedelta(days=1)
    return day


def test_every_receipt_date_of_2026_to_2030_gets_three_months_from_receipt():
    """Art. 12(3) with 1182/71 Art. 3, for every day of five years: the extended limit is the
    first working day from (receipt + 3 months). The expectation is computed here from the
    calendar and Sweden's holidays, not with the function under test."""
    closed = set(
        holidays.country_holidays(
            "SE", years=range(2026, 2032), include_sundays=False, categories=("public", "de_facto")
        )
    )
    day, wrong = dt.date(2026, 1, 1), []
    while day <= dt.date(2030, 12, 31):
        expected = _first_working_day_from(_three_months_later(day), closed)
        if deadlines.extended_due_date(day, 2) != expected:
            wrong.append((day, deadlines.extended_due_date(day, 2), expected))
        day += dt.timedelta(days=1)
    assert wrong == []
    assert day - dt.date(2026, 1, 1) == dt.timedelta(days=1826)  # every day was checked


def test_an_extension_is_at_most_two_months():
    """Art. 12(3): "by two further months" at most."""
    with pytest.raises(ExtensionError) as excinfo:
        deadlines.extension_check(
            received=dt.date(2025, 4, 5),
            original_due=dt.date(2025, 5, 5),
            today=dt.date(2025, 5, 1),
            months=3,
            reason="many",
        )
    assert excinfo.value.code == "too_long"
    with pytest.raises(ExtensionError):
        deadlines.extended_due_date(dt.date(2025, 4, 5), 0)


def test_an_extension_is_possible_only_until_the_original_due_date():
    """Art. 12(3): the person is told of an extension "within one month of receipt"."""
    args = {
        "received": dt.date(2025, 4, 5),
        "original_due": dt.date(2025, 5, 5),
        "months": 1,
        "reason": "complex request",
    }
    assert deadlines.extension_check(today=dt.date(2025, 5, 5), **args) == dt.date(2025, 6, 5)
    with pytest.raises(ExtensionError) as excinfo:
        deadlines.extension_check(today=dt.date(2025, 5, 6), **args)
    assert excinfo.value.code == "too_late"


def test_an_extension_needs_a_reason():
    """Art. 12(3): the controller informs the person "together with the reasons for the
    delay"."""
    with pytest.raises(ExtensionError) as excinfo:
        deadlines.extension_check(
            received=dt.date(2025, 4, 5),
            original_due=dt.date(2025, 5, 5),
            today=dt.date(2025, 5, 1),
            months=1,
            reason="  ",
        )
    assert excinfo.value.code == "reason_required"


def test_paused_days_push_the_due_date():
    pauses = [
        deadlines.Pause(dt.date(2025, 4, 1), dt.date(2025, 4, 4)),  # 3 days
        deadlines.Pause(dt.date(2025, 4, 10), dt.date(2025, 4, 12)),  # 2 days
    ]
    assert deadlines.paused_days(pauses, today=dt.date(2025, 4, 20)) == 5
    # 5 May 2025 + 5 days = 10 May (Saturday) → Monday 12 May.
    assert deadlines.effective_due_date(
        dt.date(2025, 5, 5), pauses, today=dt.date(2025, 4, 20)
    ) == (dt.date(2025, 5, 12))


def test_an_open_pause_counts_until_today():
    pauses = [deadlines.Pause(dt.date(2025, 4, 1), None)]
    assert deadlines.paused_days(pauses, today=dt.date(2025, 4, 8)) == 7
    assert deadlines.effective_due_date(dt.date(2025, 5, 5), [], today=dt.date(2025, 4, 8)) == (
        dt.date(2025, 5, 5)
    )
