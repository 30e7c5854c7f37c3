"""The legal time limit of a request (Art. 12(3) GDPR), in one place.

A controller answers "without undue delay and in any event within one month of
receipt"; it may extend that "by two further months where necessary", telling
the person within the first month. Periods are counted as Regulation (EEC,
Euratom) No 1182/71, Art. 3 does:

* the period starts when the request is received, as a date in the
  organisation's time zone;
* a period of months ends on the same date in the last month; if that date
  does not exist (31 January + 1 month), on the last day of that month;
* a period that ends on a Saturday, Sunday or public holiday ends on the next
  working day instead (Art. 3(4)): only the period's final end moves.

So an extended time limit is one period of 1 + n months counted from receipt
(received 31 January 2026: three months end on 30 April 2026), not n months
added to the first month's end after it was moved to a working day (that
gave 4 May 2026, later than the law allows).

Public holidays are Sweden's, from the maintained `holidays` package
(country SE, category "public"). Swedish law on computing statutory time
(lag (1930:173) om beräkning av lagstadgad tid, 2 §) also treats midsommarafton,
julafton and nyårsafton like public holidays, so they count as non-working days
here too (the package's "de_facto" category holds exactly those three).

Time waiting for the person (a `ClockPause`) pushes the due date by the number
of calendar days paused.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from django.conf import settings
from django.utils import timezone

MAX_EXTENSION_MONTHS = 2


@lru_cache(maxsize=64)
def _swedish_holidays(year: int) -> frozenset[dt.date]:
    calendar_ = holidays.country_holidays(
        "SE", years=year, include_sundays=False, categories=("public", "de_facto")
    )
    return frozenset(calendar_.keys())


def is_working_day(day: dt.date) -> bool:
    """Monday to Friday and not a Swedish public holiday, midsommarafton, julafton or nyårsafton."""
    return day.weekday() < 5 and day not in _swedish_holidays(day.year)


def next_working_day(day: dt.date) -> dt.date:
    """`day` itself when it is a working day, else the first working day after it."""
    while not is_working_day(day):
        day += dt.timedelta(days=1)
    return day


def add_months(day: dt.date, months: int) -> dt.date:
    """The same date `months` later; the last day of that month when the date does not exist."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return dt.date(year, month, min(day.day, last))


def received_date(received_at: dt.datetime, time_zone: str) -> dt.date:
    """The date of receipt in the organisation's time zone (`received_at` is aware)."""
    return local_date(received_at, time_zone)


def local_date(value: dt.datetime, time_zone: str) -> dt.date:
    """The date of an instant in a time zone (the organisation's "today" is `local_today`)."""
    if value.tzinfo is None:
        raise ValueError("value must be timezone-aware")
    return value.astimezone(ZoneInfo(time_zone)).date()


def local_today(time_zone: str | None = None) -> dt.date:
    """Today in the organisation's time zone (default: the portal's, `TIME_ZONE`)."""
    return local_date(timezone.now(), time_zone or settings.TIME_ZONE)


def due_date_for(received_at: dt.datetime, time_zone: str) -> dt.date:
    """The original due date: one month after receipt, on a working day."""
    return next_working_day(add_months(received_date(received_at, time_zone), 1))


class ExtensionError(ValueError):
    """An extension the law does not allow; `code` says which rule."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


def extended_due_date(received: dt.date, months: int) -> dt.date:
    """The due date after an extension by `months` further months (1 or 2).

    Art. 12(3): the month from receipt "may be extended by two further
    months"; the extended limit is one period of 1 + `months` months counted
    from the date of receipt (Regulation 1182/71 Art. 3(2)(c)), and only its
    end moves to the next working day (Art. 3(4)).
    """
    if not 1 <= months <= MAX_EXTENSION_MONTHS:
        raise ExtensionError(
            "too_long", f"an extension is 1 to {MAX_EXTENSION_MONTHS} further months"
        )
    return next_working_day(add_months(received, 1 + months))


def extension_check(
    *, received: dt.date, original_due: dt.date, today: dt.date, months: int, reason: str
) -> dt.date:
    """Check an extension against Art. 12(3) and return the new due date.

    Allowed only while the original time limit runs (up to and including
    `original_due`, the due date that applies before the extension: the
    person must be told "within one month of receipt"), by at most two
    further months, and with a reason. The new date counts from `received`.
    """
    if today > original_due:
        raise ExtensionError("too_late", "the original due date has passed")
    if not (reason or "").strip():
        raise ExtensionError("reason_required", "a reason is required")
    return extended_due_date(received, months)


@dataclass(frozen=True)
class Pause:
    started: dt.date
    ended: dt.date | None  # None: still paused


def paused_days(pauses: Iterable[Pause], *, today: dt.date) -> int:
    """Calendar days paused in total; an open pause counts up to today."""
    total = 0
    for pause in pauses:
        end = pause.ended or today
        total += max(0, (end - pause.started).days)
    return total


def effective_due_date(base_due: dt.date, pauses: Iterable[Pause], *, today: dt.date) -> dt.date:
    """The due date pushed by the paused days, moved to a working day."""
    days = paused_days(pauses, today=today)
    if days == 0:
        return base_due
    return next_working_day(base_due + dt.timedelta(days=days))
