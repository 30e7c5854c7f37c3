"""The choices a request form offers: fixed ones from the GDPR, and the organisation's own."""

from __future__ import annotations

from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from retention.models import LegalBasis, Organisation

ACCESS_FORMATS = [
    ("html", _("A readable document (HTML)")),
    ("json", _("A machine-readable file (JSON)")),
    ("csv", _("A spreadsheet file (CSV)")),
]
PORTABILITY_FORMATS = [
    ("json", _("JSON")),
    ("csv", _("CSV")),
]
SCOPES = [
    ("all", _("All my data")),
    ("categories", _("Only the categories I choose")),
]
ERASURE_GROUNDS = [
    ("a", _("(a) The data are no longer needed for the purpose they were collected for")),
    ("b", _("(b) I withdraw the consent the processing is based on")),
    ("c", _("(c) I object to the processing and there are no overriding legitimate grounds")),
    ("d", _("(d) The data have been processed unlawfully")),
    ("e", _("(e) The data must be erased to comply with a legal obligation")),
    ("f", _("(f) The data were collected when I was a child, for an online service")),
]
RESTRICTION_GROUNDS = [
    ("a", _("(a) I contest the accuracy of the data, while you check them")),
    ("b", _("(b) The processing is unlawful and I want it restricted instead of erased")),
    ("c", _("(c) You no longer need the data, but I need them for a legal claim")),
    ("d", _("(d) I have objected, while you check whether your grounds override mine")),
]


def _name(obj) -> str:
    return obj.name_en if (get_language() or "sv").startswith("en") else obj.name_sv


def category_choices(organisation: Organisation) -> list[tuple[str, str]]:
    return [(c.key, _name(c)) for c in organisation.categories.order_by("key")]


def legitimate_interest_purpose_choices(organisation: Organisation) -> list[tuple[str, str]]:
    """Purposes a person may object to on grounds of their situation (Art. 21(1))."""
    purposes = organisation.purposes.filter(
        legal_basis__in=[LegalBasis.LEGITIMATE_INTEREST, LegalBasis.PUBLIC_TASK]
    ).order_by("key")
    return [(p.key, _name(p)) for p in purposes]


def consent_purpose_choices(organisation: Organisation) -> list[tuple[str, str]]:
    purposes = organisation.purposes.filter(legal_basis=LegalBasis.CONSENT).order_by("key")
    return [(p.key, _name(p)) for p in purposes]


def offers_consent_withdrawal(organisation: Organisation) -> bool:
    """Only an organisation that processes something on consent has a consent to withdraw."""
    return organisation.purposes.filter(legal_basis=LegalBasis.CONSENT).exists()


def localized_name(obj) -> str:
    """`name_sv` or `name_en` of a policy object, in the active language."""
    return _name(obj)
