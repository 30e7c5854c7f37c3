"""A staff member's own settings: the language of their staff pages and e-mails.

`staff_language` is what `staff_required` activates for a staff page and what the
morning digest is written in (`staff_digest.staff_languages`); an empty answer keeps
the defaults (the pages follow the browser's language switch, the e-mails the
organisation's language).
"""

from __future__ import annotations

from requests_app.models import Language, StaffPreference


def staff_language(*, user) -> str:
    """The language the staff member chose ("sv" or "en"), or "" if they chose none."""
    return (
        StaffPreference.objects.filter(user=user).values_list("language", flat=True).first() or ""
    )


def staff_languages_chosen(*, user_ids) -> dict[int, str]:
    """{user id: language} of the staff members among `user_ids` who chose one."""
    return dict(
        StaffPreference.objects.filter(user_id__in=user_ids)
        .exclude(language="")
        .values_list("user_id", "language")
    )


def staff_language_set(*, user, language: str) -> StaffPreference:
    """Keep the staff member's language ("" for the defaults)."""
    if language not in Language.values and language != "":
        raise ValueError("A staff member's language is sv, en or empty.")
    preference, _created = StaffPreference.objects.update_or_create(
        user=user, defaults={"language": language}
    )
    return preference
