"""Finding one of an organisation's data subjects by what staff know of the person.

Staff know a person by their e-mail address, personnummer or customer number, never
by the record store's internal id. `subject_find` normalises the value as the import
does (`retention.identifiers`: an e-mail address in any case, a personnummer with or
without century and dash) and looks it up in the organisation's own identifiers only.
It refuses to guess: no subject, or more than one, is an error that says so.

`subject_label` names a subject for staff without the internal id and with as little
personal data as tells the person apart: the customer number, else a masked e-mail
address, else the last digits of the personnummer.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from retention.identifiers import (
    normalise_customer_number,
    normalise_email,
    normalise_personnummer,
)
from retention.models import DataSubject, LegalHold, Organisation, SubjectIdentifier

Kind = SubjectIdentifier.Kind

# The identifiers staff may find a person by, in the order a form offers them.
FIND_KINDS = (Kind.EMAIL, Kind.PERSONNUMMER, Kind.CUSTOMER_NUMBER)

_NORMALISERS = {
    Kind.EMAIL: normalise_email,
    Kind.PERSONNUMMER: lambda value: normalise_personnummer(value, today=timezone.localdate()),
    Kind.CUSTOMER_NUMBER: normalise_customer_number,
}

_NOT_FOUND = {
    Kind.EMAIL: gettext_lazy("Nobody in this organisation's records has that e-mail address."),
    Kind.PERSONNUMMER: gettext_lazy("Nobody in this organisation's records has that personnummer."),
    Kind.CUSTOMER_NUMBER: gettext_lazy(
        "Nobody in this organisation's records has that customer number."
    ),
}


class SubjectLookupError(Exception):
    """The value finds no subject, or more than one, or is not a valid identifier."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.message = message
        self.code = code


def subject_find(*, organisation: Organisation, kind: str, value: str) -> DataSubject:
    """The one subject of `organisation` with this identifier; `SubjectLookupError` if not one."""
    if kind not in _NORMALISERS:
        raise SubjectLookupError(_("Choose what the value is."), code="kind")
    try:
        normalised = _NORMALISERS[kind](value)
    except ValidationError as exc:
        raise SubjectLookupError(" ".join(exc.messages), code="invalid") from None
    subject_ids = list(
        SubjectIdentifier.objects.filter(organisation=organisation, kind=kind, value=normalised)
        .values_list("subject_id", flat=True)
        .distinct()[:2]
    )
    if not subject_ids:
        raise SubjectLookupError(str(_NOT_FOUND[kind]), code="not_found")
    if len(subject_ids) > 1:
        raise SubjectLookupError(
            _(
                "More than one person in this organisation's records has this %(kind)s, so "
                "the portal cannot tell which one is meant. Nothing was done: try another "
                "identifier of the person."
            )
            % {"kind": Kind(kind).label},
            code="ambiguous",
        )
    return DataSubject.objects.get(pk=subject_ids[0], organisation=organisation)


def _masked_email(value: str) -> str:
    local, _at, domain = value.partition("@")
    return f"{local[:1]}…@{domain}"


def subject_label(subject: DataSubject) -> str:
    """How staff recognise the subject: a customer number, a masked e-mail or personnummer."""
    values: dict[str, str] = {}
    for identifier in sorted(subject.identifiers.all(), key=lambda i: (i.kind, i.value)):
        values.setdefault(identifier.kind, identifier.value)
    if number := values.get(Kind.CUSTOMER_NUMBER):
        return _("the person with customer number %(number)s") % {"number": number}
    if email := values.get(Kind.EMAIL):
        return _("the person with e-mail address %(email)s") % {"email": _masked_email(email)}
    if personnummer := values.get(Kind.PERSONNUMMER):
        return _("the person whose personnummer ends in %(digits)s") % {"digits": personnummer[-4:]}
    return _("a person with no e-mail address, personnummer or customer number (id %(id)s)") % {
        "id": subject.external_id
    }


def holds_described(*, organisation: Organisation) -> list[LegalHold]:
    """The organisation's active holds, each with `covers`: who or what it holds, for staff."""
    from retention.services.holds import holds_active

    holds = list(holds_active(organisation=organisation).prefetch_related("subject__identifiers"))
    for hold in holds:
        hold.covers = subject_label(hold.subject) if hold.subject_id else ""
    return holds
