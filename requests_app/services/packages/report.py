"""The printable HTML report of an access package (`report.html`, the request's language).

The page skeleton comes from `templates/requests_app/packages/access_report.html`;
each category's records are rendered in batches of RENDER_BATCH into its slot
(by `_render_records`, not a template loop: `bench/access_package.py`), so no
more than a batch is in memory whatever the number of records.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import secrets

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from requests_app.labels import field_label, value_text
from requests_app.models import SubjectRequest
from requests_app.services.emails import public_url
from requests_app.services.packages.contents import category_records
from retention.models import Record

RENDER_BATCH = 500  # records per rendered piece of the HTML report


def write_report(member, request: SubjectRequest, head: dict, subject_ids: list[int]) -> None:
    """The printable report: the page skeleton from one template, each category's records
    rendered in batches into its slot, so no more than a batch is in memory."""
    nonce = secrets.token_hex(8)
    sources = dict(Record.Source.choices)
    categories = [
        {
            **c,
            "slot": f"@@dsr-records-{nonce}-{i}@@",
            "sources": [
                {**s, "label": str(sources.get(s["source"], s["source"]))} for s in c["sources"]
            ],
        }
        for i, c in enumerate(head["categories"])
    ]
    skeleton = _skeleton(request, head, categories)
    parts = re.split(rf"@@dsr-records-{nonce}-(\d+)@@", skeleton)
    member.write(parts[0].encode())
    for i in range(1, len(parts), 2):
        category = categories[int(parts[i])]
        _write_records(member, request, subject_ids, category, sources)
        member.write(parts[i + 1].encode())


def _skeleton(request: SubjectRequest, head: dict, categories: list[dict]) -> str:
    """The whole page from `access_report.html`, with a slot where each category's records go."""
    return render_to_string(
        "requests_app/packages/access_report.html",
        {
            "content": head,
            "categories": categories,
            "request": request,
            "organisation": request.organisation,
            "generated_at": timezone.now(),
            "own_requests": [
                {
                    **item,
                    "received": dt.datetime.fromisoformat(item["received_at"]),
                    "due": dt.date.fromisoformat(item["due_date"]),
                    "closed": dt.datetime.fromisoformat(item["closed_at"])
                    if item["closed_at"]
                    else None,
                }
                for item in head["requests"]["items"]
            ],
            "landing_url": public_url(
                reverse("requests_public:landing", kwargs={"org_slug": request.organisation.slug})
            ),
        },
    )


def _write_records(
    member, request: SubjectRequest, subject_ids: list[int], category: dict, sources: dict
) -> None:
    """One category's records as table rows, rendered RENDER_BATCH records at a time."""
    purposes = {p["key"]: p["name"] for p in category["purposes"]}
    names = category["field_labels"]
    batch = []
    for record in category_records(request, subject_ids, category["key"]):
        batch.append(
            {
                "collected_at": dt.datetime.fromisoformat(record["collected_at"]),
                "purpose": purposes.get(record["purpose"], record["purpose"]),
                "source": str(sources.get(record["source"], record["source"])),
                "restricted": record["restricted"],
                "fields": [
                    (names.get(k) or field_label(k), value_text(v))
                    for k, v in sorted(record["data"].items())
                ],
            }
        )
        if len(batch) >= RENDER_BATCH:
            member.write(_render_records(batch))
            batch = []
    if batch:
        member.write(_render_records(batch))


def _render_records(batch: list[dict]) -> bytes:
    """Table rows of the report, built here rather than by a template loop.

    A template loop costs about 2 ms per record, which made a 10,000-record
    package take 20 s (`bench/access_package.py`). Plain `html.escape` (not
    Django's lazy-aware wrapper) on values that are always `str` here.
    """
    escape = html.escape
    restricted = f"<br><em>{escape(_('restricted: only stored'))}</em>"
    rows = []
    for record in batch:
        fields = "".join(
            f"<dt>{escape(str(k))}</dt><dd>{escape(str(v))}</dd>" for k, v in record["fields"]
        )
        source = str(record["source"])
        rows.append(
            f"<tr><td>{timezone.localtime(record['collected_at']):%Y-%m-%d}</td>"
            f"<td>{escape(str(record['purpose']))}</td>"
            f"<td>{escape(source[:1].upper() + source[1:])}"
            f"{restricted if record['restricted'] else ''}</td>"
            f"<td><dl>{fields}</dl></td></tr>\n"
        )
    return "".join(rows).encode()
