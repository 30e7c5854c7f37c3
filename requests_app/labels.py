"""Readable labels for every key and value a person or staff member reads, in one place.

- Request details (`SubjectRequest.details`, written by `requests_app.public.forms`):
  `detail_label(key)` names the key; `request_details(request=...)` gives each
  detail of a request as a label and readable text: purpose and category keys
  become the organisation's names in the active language, choices their
  labels, lists are joined, booleans read yes/no, empty values "–".
- Record data: `field_label(key)` (`retention.field_labels`, the fields of the
  policy files), `value_text(value)` for the values, and `labelled_fields(data)`
  for a whole record.

Templates use the filters of `requests_app/templatetags/labels.py`
(`{% load labels %}`: `field_label`, `detail_label`, `value_text`,
`labelled_fields`, `policy_name`); code
calls these functions. Nothing else keeps its own table of labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext_lazy

from requests_app import choices
from requests_app.models import RequestKind, SubjectRequest
from requests_app.names import Names
from retention.field_labels import field_label

__all__ = [
    "DETAIL_LABELS",
    "EMPTY",
    "Detail",
    "detail_label",
    "field_label",
    "labelled_fields",
    "period_in_words",
    "request_details",
    "sweep_outcome_label",
    "value_text",
]

EMPTY = "–"

# Every key `requests_app.public.forms` writes into `SubjectRequest.details`, for every kind.
DETAIL_LABELS = {
    "message": pgettext_lazy("request detail", "Message from the person"),
    "categories": pgettext_lazy("request detail", "Categories of data"),
    "format": pgettext_lazy("request detail", "Format"),
    "corrections": pgettext_lazy("request detail", "Corrections asked for"),
    "statement": pgettext_lazy("request detail", "Supplementary statement"),
    "scope": pgettext_lazy("request detail", "What the request covers"),
    "ground": pgettext_lazy("request detail", "Ground"),
    "grounds": pgettext_lazy("request detail", "The person's grounds"),
    "purposes": pgettext_lazy("request detail", "Purposes"),
    "direct_marketing": pgettext_lazy("request detail", "Stop direct marketing"),
}
# The halves of one correction (`details["corrections"][n]`).
CORRECTION_LABELS = {
    "wrong": pgettext_lazy("request detail", "What is wrong"),
    "correct": pgettext_lazy("request detail", "What it should say"),
}


def detail_label(key: str) -> str:
    """The label of a request detail in the active language; its key made readable if unknown."""
    label = DETAIL_LABELS.get(key)
    return str(label) if label is not None else key.replace("_", " ").capitalize()


def value_text(value) -> str:
    """A stored value as a person reads it: lists joined, yes/no, numbers localised, "–"."""
    if value is None or value == "" or value == [] or value == {}:
        return EMPTY
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, int | float):
        return formats.localize(value)
    if isinstance(value, list | tuple):
        return ", ".join(value_text(item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{field_label(str(k))}: {value_text(v)}" for k, v in value.items())
    return str(value)


@dataclass
class Detail:
    key: str
    label: str
    text: str
    # A list value shown item by item (the corrections): the items' texts.
    items: list[str] = field(default_factory=list)


def _choice(options, value) -> str:
    return str(dict(options).get(value, value)) if value else EMPTY


def _names(keys, known: dict[str, str]) -> list[str]:
    keys = [keys] if isinstance(keys, str) else keys or []
    return [known.get(str(key), str(key).replace("_", " ")) for key in keys]


def _detail_text(request: SubjectRequest, key: str, value, names: Names) -> tuple[str, list]:
    kind = request.kind
    if key == "purposes":
        if value == "all" or (isinstance(value, list) and "all" in value):
            return _("all purposes"), []
        return value_text(_names(value, names.purposes)), []
    if key == "categories":
        if not value:
            return _("all categories"), []
        return value_text(_names(value, names.categories)), []
    if key == "format":
        options = (
            choices.PORTABILITY_FORMATS
            if kind == RequestKind.PORTABILITY
            else choices.ACCESS_FORMATS
        )
        return _choice(options, value), []
    if key == "scope":
        return _choice(choices.SCOPES, value), []
    if key == "ground":
        options = (
            choices.RESTRICTION_GROUNDS
            if kind == RequestKind.RESTRICTION
            else choices.ERASURE_GROUNDS
        )
        return (_choice(options, value) if value else _("no ground given")), []
    if key == "corrections" and isinstance(value, list):
        items = [
            "; ".join(
                f"{CORRECTION_LABELS.get(k, k)}: “{v}”"
                for k, v in row.items()
                if k in ("wrong", "correct")
            )
            if isinstance(row, dict)
            else value_text(row)
            for row in value
        ]
        return (value_text(items) if items else EMPTY), items
    return value_text(value), []


def request_details(*, request: SubjectRequest, names: Names | None = None) -> list[Detail]:
    """What the person asked for, labelled, in the active language (three queries for the
    organisation's names, none if `names` is given)."""
    details = request.details or {}
    if not details:
        return []
    names = names or Names.of(request.organisation_id)
    order = list(DETAIL_LABELS)
    keys = sorted(details, key=lambda k: (order.index(k) if k in order else len(order), k))
    result = []
    for key in keys:
        text, items = _detail_text(request, key, details[key], names)
        result.append(Detail(key=key, label=detail_label(key), text=text, items=items))
    return result


def labelled_fields(data: dict | None) -> list[tuple[str, str]]:
    """A record's data as (label, text) pairs in key order, for a person to read."""
    return [(field_label(str(k)), value_text(v)) for k, v in sorted((data or {}).items())]


# What a retention sweep did to a record (`retention.services.sweeps.ACTIONS`).
SWEEP_OUTCOME_LABELS = {
    "deleted": pgettext_lazy("sweep outcome", "deleted"),
    "reduced": pgettext_lazy("sweep outcome", "reduced to the fields a law keeps"),
    "anonymised": pgettext_lazy("sweep outcome", "anonymised"),
    "restricted": pgettext_lazy("sweep outcome", "restricted"),
}


def sweep_outcome_label(key: str) -> str:
    label = SWEEP_OUTCOME_LABELS.get(key)
    return str(label) if label is not None else key.replace("_", " ")


def period_in_words(unit: str, n: int) -> str:
    """A period as a person reads it: "3 years", "1 month", in the active language."""
    return {
        "days": ngettext("%(n)d day", "%(n)d days", n),
        "weeks": ngettext("%(n)d week", "%(n)d weeks", n),
        "months": ngettext("%(n)d month", "%(n)d months", n),
        "years": ngettext("%(n)d year", "%(n)d years", n),
    }.get(unit, "%(n)d") % {"n": n}
