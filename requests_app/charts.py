"""Charts for the staff pages, drawn on the server as SVG: no JavaScript, no library.

`dashboard_charts` and `retention_charts` turn the numbers of
`requests_app.selectors.charts` into `Chart`s; `templates/requests_app/staff/_chart.html`
shows each one as a figure: the SVG (role="img", with a <title> and a <desc> that says
what it shows in words), a legend, and the table behind it in a <details>, so that a
screen-reader user or anyone who would rather read numbers gets all of them.

Every text in the SVG is escaped here; colours come from classes in static/css/staff.css
(the Content-Security-Policy allows no inline styles).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from django.utils import formats
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from requests_app.selectors import charts as sel

WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 14, 44
COLOURS = 8  # .c0 ... .c7 in staff.css


@dataclass
class Chart:
    key: str  # unique on the page: the ids of the title and the description
    title: str
    description: str  # what the chart shows, in words (the SVG's <desc>)
    svg: SafeString
    headers: list[str]
    rows: list[list[str]]
    legend: list[tuple[str, str]] = field(default_factory=list)  # (label, colour class)
    empty: bool = False


def axis_top(value: float) -> float:
    """The top of a value axis with four grid steps of 1, 2 or 5 x 10^n each, so that every
    grid line is a whole number (3 -> 4, 11 -> 20, 180 -> 200)."""
    if value <= 0:
        return 4
    quarter = value / 4
    exponent = 10 ** math.floor(math.log10(quarter))
    for step in (1, 2, 5, 10):
        if quarter <= step * exponent:
            return 4 * max(1, step * exponent)
    return 40 * exponent  # pragma: no cover


def _number(value: float) -> str:
    return formats.number_format(value, decimal_pos=0 if float(value).is_integer() else 1)


def _svg(
    key: str, title: str, description: str, body: list[str], height: int = HEIGHT
) -> SafeString:
    return mark_safe(  # noqa: S308  (every text in `body` and here is escaped)
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{key}-title {key}-desc" focusable="false">'
        f'<title id="{key}-title">{escape(title)}</title>'
        f'<desc id="{key}-desc">{escape(description)}</desc>' + "".join(body) + "</svg>"
    )


def _axes(top_value: float, unit: str = "") -> list[str]:
    """Horizontal grid lines with their values (4 steps), and the baseline."""
    parts = []
    plot_h = HEIGHT - TOP - BOTTOM
    for i in range(5):
        value = top_value * i / 4
        y = HEIGHT - BOTTOM - plot_h * i / 4
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_number(value))}{escape(unit)}</text>"
        )
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
        f'y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM}"/>'
    )
    return parts


def bars(
    *,
    labels: list[str],
    stacks: list[list[tuple[float, str]]],
    unit: str = "",
    top_value: float | None = None,
    label_every: int = 1,
    show_totals: bool = True,
) -> list[str]:
    """The SVG elements of a (stacked) bar chart: one stack of (value, class) per label."""
    totals = [sum(v for v, _c in stack) for stack in stacks]
    top = top_value or axis_top(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(labels), 1)
    bar_w = max(2.0, slot * 0.7)
    parts = _axes(top, unit)
    for i, (label, stack, total) in enumerate(zip(labels, stacks, totals, strict=True)):
        x = LEFT + i * slot + (slot - bar_w) / 2
        y = HEIGHT - BOTTOM
        for value, css in stack:
            if value <= 0:
                continue
            h = plot_h * value / top
            y -= h
            parts.append(
                f'<rect class="{css}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}"/>'
            )
        if show_totals and total > 0 and slot >= 18:
            parts.append(
                f'<text class="value" x="{x + bar_w / 2:.1f}" y="{y - 4:.1f}" '
                f'text-anchor="middle">{escape(_number(total))}{escape(unit)}</text>'
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    return parts


def _month_label(month: dt.date) -> str:
    return formats.date_format(month, "M y")


def _chart(key: str, title: str, description: str, body: list[str] | None, **table) -> Chart:
    """A chart drawn from `body`, or the empty chart when there is nothing to draw (None);
    `table` holds the headers, rows and legend of the table behind it."""
    return Chart(
        key=key,
        title=title,
        description=description,
        svg=_figure(key, title, description, body),
        empty=body is None,
        **table,
    )


def _figure(key: str, title: str, description: str, body: list[str] | None) -> SafeString:
    """The chart's SVG, or the empty chart's when there is nothing to draw (`body` None)."""
    return (
        _empty_svg(key, title, description) if body is None else _svg(key, title, description, body)
    )


def _empty_svg(key: str, title: str, description: str) -> SafeString:
    """A low strip with the words, not an empty plot of full height."""
    height = 48
    return _svg(
        key,
        title,
        description,
        [
            f'<text x="{WIDTH / 2}" y="{height / 2 + 5}" text-anchor="middle">'
            f"{escape(_('Nothing to show yet.'))}</text>"
        ],
        height=height,
    )


# --- The dashboard --------------------------------------------------------------------------


def requests_per_month_chart(data: sel.MonthlyByKind) -> Chart:
    key = "chart-requests-per-month"
    title = _("Requests per month, by type")
    colour = {k: f"c{i % COLOURS}" for i, (k, _label) in enumerate(data.kinds)}
    total = sum(data.total(m) for m in data.months)
    busiest = max(data.months, key=data.total) if total else None
    if busiest is None:
        description = _("No requests were received in the last 12 months.")
    else:
        description = _(
            "%(total)s requests in the last 12 months; the most, %(most)s, in %(month)s."
        ) % {
            "total": total,
            "most": data.total(busiest),
            "month": formats.date_format(busiest, "F Y"),
        }
    stacks = [[(data.count(m, k), colour[k]) for k, _label in data.kinds] for m in data.months]
    labels = [_month_label(m) for m in data.months]
    return _chart(
        key,
        title,
        description,
        bars(labels=labels, stacks=stacks) if total else None,
        headers=[_("Month")] + [label for _k, label in data.kinds] + [_("Total")],
        rows=[
            [formats.date_format(m, "F Y")]
            + [str(data.count(m, k)) for k, _label in data.kinds]
            + [str(data.total(m))]
            for m in data.months
        ],
        legend=[(label, colour[k]) for k, label in data.kinds],
    )


def on_time_chart(months: list[sel.MonthClosing]) -> Chart:
    key = "chart-on-time"
    title = _("Closed within the time limit, per month")
    closed = sum(m.closed for m in months)
    on_time = sum(m.on_time for m in months)
    if closed:
        description = _(
            "%(percent)s %% of the %(closed)s requests closed in the last 12 months were "
            "closed within the time limit."
        ) % {"percent": round(100 * on_time / closed), "closed": closed}
    else:
        description = _("No request was closed in the last 12 months.")
    stacks = [
        [
            (
                m.on_time_percent or 0,
                "meter-ok" if (m.on_time_percent or 0) >= 90 else "meter-low",
            )
        ]
        for m in months
    ]
    return _chart(
        key,
        title,
        description,
        bars(
            labels=[_month_label(m.month) for m in months],
            stacks=stacks,
            unit=" %",
            top_value=100,
        )
        if closed
        else None,
        headers=[_("Month"), _("Closed"), _("Within the time limit"), _("Share")],
        rows=[
            [
                formats.date_format(m.month, "F Y"),
                str(m.closed),
                str(m.on_time),
                f"{m.on_time_percent} %" if m.on_time_percent is not None else "–",
            ]
            for m in months
        ],
        legend=[(_("at least 90 %"), "meter-ok"), (_("under 90 %"), "meter-low")],
    )


def median_days_chart(months: list[sel.MonthClosing]) -> Chart:
    key = "chart-median-days"
    title = _("Median days to close, per month")
    known = [m for m in months if m.median_days is not None]
    if known:
        latest = known[-1]
        description = _(
            "The median time from receipt to decision was %(days)s days in %(month)s."
        ) % {
            "days": _number(latest.median_days),
            "month": formats.date_format(latest.month, "F Y"),
        }
    else:
        description = _("No request was closed in the last 12 months.")
    return _chart(
        key,
        title,
        description,
        bars(
            labels=[_month_label(m.month) for m in months],
            stacks=[[(m.median_days or 0, "c0")] for m in months],
        )
        if known
        else None,
        headers=[_("Month"), _("Closed"), _("Median days to close")],
        rows=[
            [
                formats.date_format(m.month, "F Y"),
                str(m.closed),
                _number(m.median_days) if m.median_days is not None else "–",
            ]
            for m in months
        ],
    )


def days_left_labels() -> dict[str, str]:
    return {
        "overdue": _("Overdue"),
        "week": _("0–7 days"),
        "fortnight": _("8–14 days"),
        "month": _("15–30 days"),
        "later": _("over 30 days"),
    }


DAYS_LEFT_CLASS = {
    "overdue": "bar-overdue",
    "week": "bar-soon",
    "fortnight": "bar-ok",
    "month": "bar-ok",
    "later": "bar-ok",
}


def days_left_chart(counts: dict[str, int]) -> Chart:
    key = "chart-days-left"
    title = _("Open requests by days left")
    labels = days_left_labels()
    total = sum(counts.values())
    if total:
        description = ngettext(
            "%(total)s open request: %(overdue)s overdue, %(week)s due within 7 days.",
            "%(total)s open requests: %(overdue)s overdue, %(week)s due within 7 days.",
            total,
        ) % {"total": total, "overdue": counts["overdue"], "week": counts["week"]}
    else:
        description = _("No request is open.")
    return _chart(
        key,
        title,
        description,
        bars(
            labels=[labels[k] for k in counts],
            stacks=[[(n, DAYS_LEFT_CLASS[k])] for k, n in counts.items()],
        )
        if total
        else None,
        headers=[_("Days left"), _("Open requests")],
        rows=[[labels[k], str(n)] for k, n in counts.items()],
        legend=[(_("Overdue"), "bar-overdue"), (_("Due within 7 days"), "bar-soon")],
    )


def dashboard_charts(*, organisation, today: dt.date) -> list[Chart]:
    """The organisation dashboard's four charts."""
    closing = sel.closing_per_month(organisation=organisation, today=today)
    return [
        requests_per_month_chart(sel.requests_per_month(organisation=organisation, today=today)),
        on_time_chart(closing),
        median_days_chart(closing),
        days_left_chart(sel.open_by_days_left(organisation=organisation, today=today)),
    ]


# --- The retention page ---------------------------------------------------------------------


def expiring_chart(data: sel.DailyByRule) -> Chart:
    key = "chart-expiring"
    title = _("Records expiring over the next 30 days, by rule")
    colour = {k: f"c{i % COLOURS}" for i, (k, _name) in enumerate(data.rules)}
    total = sum(data.total(d) for d in data.days)
    if total:
        description = ngettext(
            "%(total)s record expires in the next 30 days, %(today)s of it by tonight's sweep.",
            "%(total)s records expire in the next 30 days, %(today)s of them by tonight's sweep.",
            total,
        ) % {"total": total, "today": data.total(data.days[0])}
    else:
        description = _("No record expires in the next 30 days.")
    stacks = [[(data.count(d, k), colour[k]) for k, _name in data.rules] for d in data.days]
    return _chart(
        key,
        title,
        description,
        bars(
            labels=[formats.date_format(d, "j M") for d in data.days],
            stacks=stacks,
            label_every=5,
        )
        if total
        else None,
        headers=[_("Day")] + [name for _k, name in data.rules] + [_("Total")],
        rows=[
            [formats.date_format(d, "j F Y")]
            + [str(data.count(d, k)) for k, _name in data.rules]
            + [str(data.total(d))]
            for d in data.days
            if data.total(d)
        ],
        legend=[(name, colour[k]) for k, name in data.rules],
    )


def retention_charts(*, organisation) -> list[Chart]:
    return [expiring_chart(sel.expiring_by_day(organisation=organisation))]
