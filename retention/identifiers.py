"""Normalising the identifiers that find a data subject.

The same functions normalise what an organisation imports and what a person
types in a form, so that a lookup is an exact match on an index.
"""

from __future__ import annotations

import datetime as dt
import re

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

PERSONNUMMER_RE = re.compile(r"^(\d{2})?(\d{2})(\d{2})(\d{2})([-+]?)(\d{3})(\d)$")


def normalise_email(value: str) -> str:
    """Trimmed, domain lower-cased (and the local part too: providers treat it so)."""
    value = (value or "").strip()
    validate_email(value)
    return value.lower()


def normalise_phone(value: str) -> str:
    """Digits with a leading +46 for Swedish numbers written nationally (070 ... → +4670 ...)."""
    raw = (value or "").strip()
    digits = re.sub(r"[\s\-().]", "", raw)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if digits.startswith("0"):
        digits = "+46" + digits[1:]
    if not re.fullmatch(r"\+?\d{6,15}", digits):
        raise ValidationError(_("Enter a valid phone number."), code="invalid_phone")
    return digits if digits.startswith("+") else "+" + digits


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(digits):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product - 9 if product > 9 else product
    return total % 10 == 0


def normalise_personnummer(value: str, *, today: dt.date | None = None) -> str:
    """Validate a personnummer or samordningsnummer; return it as YYYYMMDDNNNC.

    Accepts 10 or 12 digits, with or without `-` or `+` (`+` in the 10-digit
    form means the person is 100 or older). The date must exist; a
    samordningsnummer adds 60 to the day. The last digit is a Luhn check over
    the 10-digit form.
    """
    raw = (value or "").strip().replace(" ", "")
    match = PERSONNUMMER_RE.match(raw)
    if not match:
        raise ValidationError(
            _("Enter a personnummer or samordningsnummer as YYYYMMDD-NNNN or YYMMDD-NNNN."),
            code="invalid_format",
        )
    century, yy, mm, dd, sep, serial, check = match.groups()
    today = today or dt.date.today()
    if century is None:
        # Ten digits: the century is the one that puts the birth date in the
        # last hundred years, or the one before that with "+".
        year = (today.year // 100) * 100 + int(yy)
        if year > today.year:
            year -= 100
        if sep == "+":
            year -= 100
    else:
        if sep == "+":
            raise ValidationError(
                _("Use '-' or nothing between the date and the last four digits."),
                code="invalid_format",
            )
        year = int(century + yy)
    day = int(dd)
    coordination = day > 60
    if coordination:
        day -= 60
    try:
        birth = dt.date(year, int(mm), day)
    except ValueError:
        raise ValidationError(
            _("The date part of the number does not exist."), code="invalid_date"
        ) from None
    if birth > today:
        raise ValidationError(
            _("The date part of the number is in the future."), code="invalid_date"
        )
    if not luhn_valid(yy + mm + dd + serial + check):
        raise ValidationError(
            _("The check digit does not match: please check the number."), code="invalid_checksum"
        )
    return f"{year:04d}{mm}{dd}{serial}{check}"


def normalise_customer_number(value: str) -> str:
    value = (value or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9\-_/.]{0,63}", value):
        raise ValidationError(
            _("A customer number has letters, digits and - _ / . only (at most 64)."),
            code="invalid_customer_number",
        )
    return value.upper()
