"""`{% load labels %}`: the filters of `requests_app.labels` for templates.

- `{{ key|field_label }}`: a record field's label ("customer_number": "kundnummer").
- `{{ key|detail_label }}`: a request detail's label ("message").
- `{{ value|value_text }}`: a stored value as text (lists joined, yes/no, "–").
- `{{ data|labelled_fields }}`: a record's data as (label, text) pairs.
- `{{ obj|policy_name }}`: a category's, purpose's or rule's name in the active language.
"""

from django import template

from requests_app import labels
from requests_app.choices import localized_name

register = template.Library()


@register.filter
def field_label(key) -> str:
    return labels.field_label(str(key))


@register.filter
def detail_label(key) -> str:
    return labels.detail_label(str(key))


@register.filter
def value_text(value) -> str:
    return labels.value_text(value)


@register.filter
def policy_name(obj) -> str:
    """A category's, purpose's or rule's name in the active language (`name_sv`/`name_en`)."""
    return localized_name(obj) if obj is not None else labels.EMPTY


@register.filter
def labelled_fields(data) -> list[tuple[str, str]]:
    """A record's data as (label, text) pairs, in key order."""
    return labels.labelled_fields(data if isinstance(data, dict) else {})
