"""The files of a package, streamed into the encrypted writer.

ACCESS: a ZIP with `report.html` (`report`), `data.json`
(`schemas/access-v1.schema.json`) and, when the person asked for CSV,
`data.csv`. PORTABILITY: one JSON file (`portability-v1.schema.json`) or CSV.
JSON is written piece by piece, never held whole in memory.
"""

from __future__ import annotations

import csv
import json
import zipfile

from django.utils import timezone

from requests_app.labels import field_label
from requests_app.models import DataPackage, SubjectRequest
from requests_app.services.packages.common import schema_url
from requests_app.services.packages.contents import access_overview, category_records
from requests_app.services.packages.report import write_report
from retention.services import exports


class Utf8Sink:
    """A text sink for `csv.writer` and JSON pieces, writing UTF-8 into a binary stream."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(text.encode("utf-8"))
        return len(text)


def json_object_write(out: Utf8Sink, head: dict, key: str, items) -> None:
    """`head` as a JSON object whose last member, `key`, is the array of streamed `items`."""
    out.write(json.dumps(head, ensure_ascii=False)[:-1])
    out.write(f", {json.dumps(key)}: [")
    for n, item in enumerate(items):
        out.write((", " if n else "") + json.dumps(item, ensure_ascii=False))
    out.write("]}")


def write_access(writer, request: SubjectRequest, subject_ids: list[int]) -> dict:
    head = access_overview(request, subject_ids)
    with zipfile.ZipFile(writer, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("report.html", mode="w") as member:
            write_report(member, request, head, subject_ids)
        with archive.open("data.json", mode="w") as member:
            out = Utf8Sink(member)
            rest = {k: v for k, v in head.items() if k != "categories"}
            out.write(json.dumps(rest, ensure_ascii=False)[:-1] + ', "categories": [')
            for n, category in enumerate(head["categories"]):
                out.write(", " if n else "")
                records = category_records(request, subject_ids, category["key"])
                json_object_write(out, category, "records", records)
            out.write("]}\n")
        if request.details.get("format") == "csv":
            with archive.open("data.csv", mode="w") as member:
                _write_csv(Utf8Sink(member), request, subject_ids, head)
        files = [{"name": i.filename, "size": i.file_size} for i in archive.infolist()]
    return {
        "files": files,
        "records": head["record_count"],
        "categories": [
            {"key": c["key"], "name": c["name"], "records": c["record_count"]}
            for c in head["categories"]
        ],
        "language": request.language,
    }


# The access CSV: the portability columns (keys, for machines), then what they mean for a
# person in the request's language: the category's and purpose's names and the field's label.
ACCESS_CSV_COLUMNS = [
    *exports.PORTABILITY_CSV_COLUMNS,
    "category_name",
    "purpose_name",
    "field_label",
]


def _write_csv(out: Utf8Sink, request, subject_ids, head) -> None:
    writer = csv.writer(out)
    writer.writerow(ACCESS_CSV_COLUMNS)
    for category in head["categories"]:
        records = (
            {**r, "category": category["key"]}
            for r in category_records(request, subject_ids, category["key"])
        )
        purposes = {p["key"]: p["name"] for p in category["purposes"]}
        names = category["field_labels"]
        for row in exports.portability_csv_rows(records):
            _key, purpose, _source, _collected, field, _value = row
            writer.writerow(
                [
                    *row,
                    exports.csv_cell(category["name"]),
                    exports.csv_cell(purposes.get(purpose, purpose)),
                    exports.csv_cell(names.get(field) or field_label(field)),
                ]
            )


def write_portability(writer, request, package, subject_ids: list[int]) -> dict:
    out = Utf8Sink(writer)
    records = _Counter(
        exports.portability_records(organisation=request.organisation, subject_ids=subject_ids)
    )
    if package.format == DataPackage.Format.CSV:
        csv_writer = csv.writer(out)
        csv_writer.writerow(exports.PORTABILITY_CSV_COLUMNS)
        csv_writer.writerows(exports.portability_csv_rows(records))
    else:
        head = {
            "schema": schema_url("portability-v1"),
            "schema_version": exports.PORTABILITY_SCHEMA_VERSION,
            "organisation": request.organisation.legal_name,
            "generated_at": timezone.now().isoformat(),
        }
        json_object_write(out, head, "records", records)
        out.write("\n")
    return {
        "files": [{"name": f"data.{package.format}", "size": writer.size}],
        "records": records.count,
        "categories": [],
        "language": request.language,
    }


class _Counter:
    """Counts the items of an iterator as they pass."""

    def __init__(self, items):
        self.items = items
        self.count = 0

    def __iter__(self):
        for item in self.items:
            self.count += 1
            yield item
