"""The legal due date (Art. 12(3) GDPR, counted as Regulation 1182/71 Art. 3)."""

import datetime as dt
from zoneinfo import ZoneInfo

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


def test_an_extension_counts_two_further_months_from_the_original_due_date():
    assert deadlines.extended_due_date(dt.date(2025, 2, 28), 2) == dt.date(2025, 4, 28)
    # 31 Oct + 2 months = 31 Dec 2025, nyårsafton → Friday 2 Jan 2026.
    assert deadlines.extended_due_date(dt.date(2025, 10, 31), 2) == dt.date(2026, 1, 2)
    # 31 Dec + 2 months = 28 Feb 2026 (the last day; a Saturday) → Monday 2 March.
    assert deadlines.extended_due_date(dt.date(2025, 12, 31), 2) == dt.date(2026, 3, 2)


def test_an_extension_is_at_most_two_months():
    with pytest.raises(ExtensionError) as excinfo:
        deadlines.extension_check(
            original_due=dt.date(2025, 5, 5), today=dt.date(2025, 5, 1), months=3, reason="many"
        )
    assert excinfo.value.code == "too_long"
    with pytest.raises(ExtensionError):
        deadlines.extended_due_date(dt.date(2025, 5, 5), 0)


def test_an_extension_is_possible_only_until_the_original_due_date():
    args = {"original_due": dt.date(2025, 5, 5), "months": 1, "reason": "complex request"}
    assert deadlines.extension_check(today=dt.date(2025, 5, 5), **args) == dt.date(2025, 6, 5)
    with pytest.raises(ExtensionError) as excinfo:
        deadlines.extension_check(today=dt.date(2025, 5, 6), **args)
    assert excinfo.value.code == "too_late"


def test_an_extension_needs_a_reason():
    with pytest.raises(ExtensionError) as excinfo:
        deadlines.extension_check(
            original_due=dt.date(2025, 5, 5), today=dt.date(2025, 5, 1), months=1, reason="  "
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
