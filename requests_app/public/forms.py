"""The request forms: one per request type, the single place where input is validated.

The public pages use them directly; the API maps its JSON onto the same
forms (`requests_app.api.serializers`), so every rule and every translated
message is the same on both.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from requests_app import choices
from requests_app.accessible_forms import AccessibleFormMixin
from requests_app.models import Language, RequestKind
from retention.identifiers import (
    normalise_customer_number,
    normalise_email,
    normalise_personnummer,
    normalise_phone,
)
from retention.models import Organisation

NAME_MAX = 200
TEXT_MAX = 2000
CORRECTION_MAX = 500
MAX_CORRECTIONS = 10
CORRECTION_ROWS = 3

# Fields every form has; everything else is type-specific and goes to `details`.
COMMON_FIELDS = ("full_name", "email", "phone", "personnummer", "customer_number", "language")


# Django fills in the parameters when it raises the max_length error.
TOO_LONG = _("Use at most %(limit_value)d characters (you used %(show_value)d).")


def _free_text(label, help_text=""):
    """An optional free-text box of the request forms (at most TEXT_MAX characters)."""
    return forms.CharField(
        label=label,
        help_text=help_text,
        required=False,
        max_length=TEXT_MAX,
        error_messages={"max_length": TOO_LONG},
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class RequestForm(AccessibleFormMixin, forms.Form):
    kind: str = ""

    full_name = forms.CharField(
        label=_("Full name"),
        max_length=NAME_MAX,
        error_messages={
            "required": _("Enter your full name."),
            "max_length": TOO_LONG,
        },
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = forms.CharField(
        label=_("E-mail address"),
        max_length=254,
        help_text=_("We send a code to this address to confirm that it is yours."),
        error_messages={
            "required": _("Enter your e-mail address."),
            "max_length": TOO_LONG,
        },
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    phone = forms.CharField(
        label=_("Phone number (optional)"),
        required=False,
        max_length=30,
        error_messages={"max_length": TOO_LONG},
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    personnummer = forms.CharField(
        label=_("Personnummer or samordningsnummer (optional)"),
        required=False,
        max_length=20,
        help_text=_("YYYYMMDD-NNNN. It helps us find your data if we hold it."),
        error_messages={"max_length": TOO_LONG},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    customer_number = forms.CharField(
        label=_("Customer number (optional)"),
        required=False,
        max_length=64,
        error_messages={"max_length": TOO_LONG},
    )
    language = forms.ChoiceField(
        label=_("Language for our answers"),
        choices=Language.choices,
        error_messages={
            "required": _("Choose a language."),
            "invalid_choice": _("Choose Swedish (sv) or English (en)."),
        },
    )
    details = _free_text(_("Anything else we should know (optional)"))

    def __init__(self, *args, organisation: Organisation, **kwargs):
        self.organisation = organisation
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("language", (get_language() or "sv")[:2])
        super().__init__(*args, **kwargs)
        if "categories" in self.fields:
            self.fields["categories"].choices = self._category_choices()

    def _category_choices(self):
        """The organisation's categories, read when first needed and then kept.

        A submission that names no category (most do) costs no query.
        """
        cache: list = []

        def load():
            if not cache:
                cache.append(choices.category_choices(self.organisation))
            return cache[0]

        return load

    def clean_email(self) -> str:
        try:
            return normalise_email(self.cleaned_data["email"])
        except ValidationError:
            raise ValidationError(
                _("Enter a valid e-mail address, like name@example.com."), code="invalid"
            ) from None

    def clean_phone(self) -> str:
        value = self.cleaned_data["phone"]
        return normalise_phone(value) if value else ""

    def clean_personnummer(self) -> str:
        value = self.cleaned_data["personnummer"]
        return normalise_personnummer(value, today=timezone.localdate()) if value else ""

    def clean_customer_number(self) -> str:
        value = self.cleaned_data["customer_number"]
        return normalise_customer_number(value) if value else ""

    def about_you(self) -> list:
        return [self[name] for name in COMMON_FIELDS]

    def request_fields(self) -> list:
        """The type-specific fields, then the free text."""
        names = [n for n in self.fields if n not in COMMON_FIELDS and n != "details"]
        return [self[name] for name in [*names, "details"]]

    def type_details(self) -> dict:
        """The type-specific answers, stored in `SubjectRequest.details`."""
        data = {k: v for k, v in self.cleaned_data.items() if k not in COMMON_FIELDS}
        if not data.get("details"):
            data.pop("details", None)
        else:
            data["message"] = data.pop("details")
        return data

    def submission(self) -> dict:
        """Keyword arguments for `request_submit`."""
        return {
            "organisation": self.organisation,
            "kind": self.kind,
            **{name: self.cleaned_data[name] for name in COMMON_FIELDS},
            "details": self.type_details(),
        }


def _categories_field(label):
    return forms.MultipleChoiceField(
        label=label,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": _("Choose categories from the list.")},
    )


def _scope_field(label):
    return forms.ChoiceField(
        label=label,
        choices=choices.SCOPES,
        initial="all",
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose all data or chosen categories."),
            "invalid_choice": _("Choose all data or chosen categories."),
        },
    )


class ScopedMixin:
    """`scope` all/categories; with `categories`, at least one category."""

    def clean(self):
        cleaned = super().clean()
        if (
            cleaned.get("scope") == "categories"
            and "categories" in cleaned
            and not cleaned["categories"]
        ):
            self.add_error("categories", _("Choose at least one category, or choose all data."))
        if cleaned.get("scope") == "all":
            cleaned["categories"] = []
        return cleaned


class AccessForm(RequestForm):
    kind = RequestKind.ACCESS
    categories = _categories_field(_("Which data (leave empty for all)"))
    format = forms.ChoiceField(
        label=_("Preferred format"),
        choices=choices.ACCESS_FORMATS,
        initial="html",
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose a format."),
            "invalid_choice": _("Choose a format from the list."),
        },
    )


class CorrectionForm(AccessibleFormMixin, forms.Form):
    wrong = forms.CharField(
        label=_("What is wrong"),
        required=False,
        max_length=CORRECTION_MAX,
        error_messages={"max_length": TOO_LONG},
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    correct = forms.CharField(
        label=_("What it should say"),
        required=False,
        max_length=CORRECTION_MAX,
        error_messages={"max_length": TOO_LONG},
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean(self):
        cleaned = super().clean()
        wrong, correct = cleaned.get("wrong"), cleaned.get("correct")
        if wrong and not correct:
            self.add_error("correct", _("Say what it should say instead."))
        if correct and not wrong:
            self.add_error("wrong", _("Say what is wrong."))
        return cleaned


class BaseCorrectionFormSet(forms.BaseFormSet):
    default_error_messages = {
        "too_many_forms": _("Send at most %(num)d corrections in one request."),
        "missing_management_form": _("The form was incomplete; please try again."),
    }

    def clean(self):
        if any(self.errors):
            return
        if not self.corrections():
            raise ValidationError(
                _("Describe at least one thing to correct."), code="corrections_required"
            )

    def corrections(self) -> list[dict]:
        return [
            {"wrong": form.cleaned_data["wrong"], "correct": form.cleaned_data["correct"]}
            for form in self.forms
            if form.cleaned_data.get("wrong") or form.cleaned_data.get("correct")
        ]


CorrectionFormSet = forms.formset_factory(
    CorrectionForm,
    formset=BaseCorrectionFormSet,
    extra=CORRECTION_ROWS,
    max_num=MAX_CORRECTIONS,
    absolute_max=MAX_CORRECTIONS,
    validate_max=True,
)


class RectificationForm(RequestForm):
    kind = RequestKind.RECTIFICATION
    statement = _free_text(
        _("Supplementary statement (optional)"),
        help_text=_("Information you want added to make incomplete data complete (Art. 16)."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.corrections = CorrectionFormSet(
            self.data if self.is_bound else None, prefix="corrections"
        )

    @classmethod
    def with_more_rows(cls, data, *, organisation: Organisation) -> RectificationForm:
        """An unbound form that keeps what was typed and offers more rows (no JavaScript)."""
        rows = []
        try:
            total = min(int(data.get("corrections-TOTAL_FORMS", 0)), MAX_CORRECTIONS)
        except ValueError:
            total = 0
        for index in range(total):
            row = {
                "wrong": data.get(f"corrections-{index}-wrong", ""),
                "correct": data.get(f"corrections-{index}-correct", ""),
            }
            if row["wrong"] or row["correct"]:
                rows.append(row)
        initial = {name: data.get(name, "") for name in (*COMMON_FIELDS, "details", "statement")}
        form = cls(organisation=organisation, initial=initial)
        form.corrections = CorrectionFormSet(initial=rows, prefix="corrections")
        form.corrections.extra = max(
            0, min(total - len(rows) + CORRECTION_ROWS, MAX_CORRECTIONS - len(rows))
        )
        return form

    def is_valid(self) -> bool:
        own = super().is_valid()
        return self.corrections.is_valid() and own

    def type_details(self) -> dict:
        data = super().type_details()
        data["corrections"] = self.corrections.corrections()
        return data

    def correction_errors(self) -> dict[str, list[str]]:
        """Errors of the rows as flat API field names: `corrections[0].wrong`."""
        errors: dict[str, list[str]] = {}
        if self.corrections.non_form_errors():
            errors["corrections"] = list(self.corrections.non_form_errors())
        for index, form in enumerate(self.corrections.forms):
            for name, messages in form.errors.items():
                errors[f"corrections[{index}].{name}"] = list(messages)
        return errors


class ErasureForm(ScopedMixin, RequestForm):
    kind = RequestKind.ERASURE
    scope = _scope_field(_("What should be erased"))
    categories = _categories_field(_("Categories to erase"))
    ground = forms.ChoiceField(
        label=_("Ground for erasure, Art. 17(1) (optional)"),
        choices=[("", _("I do not want to give a ground")), *choices.ERASURE_GROUNDS],
        required=False,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": _("Choose a ground from the list.")},
    )


class RestrictionForm(ScopedMixin, RequestForm):
    kind = RequestKind.RESTRICTION
    ground = forms.ChoiceField(
        label=_("Ground for restriction, Art. 18(1)"),
        choices=choices.RESTRICTION_GROUNDS,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose the ground for restriction."),
            "invalid_choice": _("Choose a ground from the list."),
        },
    )
    scope = _scope_field(_("What should be restricted"))
    categories = _categories_field(_("Categories to restrict"))


class ObjectionForm(RequestForm):
    kind = RequestKind.OBJECTION
    direct_marketing = forms.BooleanField(
        label=_("Stop using my data for direct marketing"),
        help_text=_("An objection to direct marketing is always honoured (Art. 21(2)-(3))."),
        required=False,
    )
    purposes = forms.MultipleChoiceField(
        label=_("Processing based on legitimate interest that I object to"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": _("Choose purposes from the list.")},
    )
    grounds = _free_text(_("Your grounds, relating to your particular situation"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["purposes"].choices = choices.legitimate_interest_purpose_choices(
            self.organisation
        )

    def clean(self):
        cleaned = super().clean()
        if (
            "purposes" in cleaned
            and not cleaned.get("direct_marketing")
            and not cleaned["purposes"]
        ):
            self.add_error(
                "purposes",
                _("Choose direct marketing, or at least one purpose you object to."),
            )
        if cleaned.get("purposes") and not (cleaned.get("grounds") or "").strip():
            self.add_error(
                "grounds", _("Tell us the grounds for your objection to these purposes.")
            )
        return cleaned


class PortabilityForm(RequestForm):
    kind = RequestKind.PORTABILITY
    format = forms.ChoiceField(
        label=_("File format"),
        choices=choices.PORTABILITY_FORMATS,
        initial="json",
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose a format."),
            "invalid_choice": _("Choose a format from the list."),
        },
    )


class ConsentWithdrawalForm(RequestForm):
    """Withdrawal of consent (Art. 7(3)): names the consents withdrawn, or all of them.

    An organisation with no consent-based purpose has nothing to withdraw: its
    landing page does not offer the form, the page says so, and a submission
    (the API) gets a clear error instead of a request that names nothing.
    """

    kind = RequestKind.CONSENT_WITHDRAWAL
    ALL = "all"
    purposes = forms.MultipleChoiceField(
        label=_("Consents you withdraw"),
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": _("Choose at least one consent to withdraw."),
            "invalid_choice": _("Choose purposes from the list."),
        },
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        consents = choices.consent_purpose_choices(self.organisation)
        self.consent_keys = [key for key, _label in consents]
        self.fields["purposes"].choices = (
            [(self.ALL, _("All the consents I have given")), *consents] if consents else []
        )

    @property
    def offered(self) -> bool:
        """Whether the organisation processes anything on consent (else: nothing to withdraw)."""
        return bool(self.consent_keys)

    def clean_purposes(self) -> list[str]:
        chosen = self.cleaned_data["purposes"]
        return list(self.consent_keys) if self.ALL in chosen else chosen

    def clean(self):
        cleaned = super().clean()
        if not self.offered:
            raise ValidationError(
                _(
                    "%(organisation)s processes no personal data on the basis of consent, so "
                    "there is no consent to withdraw. To stop other processing, object to it "
                    "or ask for erasure."
                ),
                code="not_offered",
                params={"organisation": self.organisation.display_name},
            )
        return cleaned


FORMS: dict[str, type[RequestForm]] = {
    RequestKind.ACCESS: AccessForm,
    RequestKind.RECTIFICATION: RectificationForm,
    RequestKind.ERASURE: ErasureForm,
    RequestKind.RESTRICTION: RestrictionForm,
    RequestKind.OBJECTION: ObjectionForm,
    RequestKind.PORTABILITY: PortabilityForm,
    RequestKind.CONSENT_WITHDRAWAL: ConsentWithdrawalForm,
}


class ReplyForm(AccessibleFormMixin, forms.Form):
    answer = forms.CharField(
        label=_("Your answer"),
        widget=forms.Textarea,
        max_length=5000,
        error_messages={"required": _("Write your answer.")},
    )


class CodeForm(AccessibleFormMixin, forms.Form):
    code = forms.CharField(
        label=_("Code from the e-mail"),
        max_length=6,
        min_length=6,
        error_messages={
            "required": _("Enter the 6-digit code from the e-mail."),
            "min_length": _("The code has 6 digits."),
            "max_length": _("The code has 6 digits."),
        },
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9]*"}
        ),
    )

    def clean_code(self) -> str:
        value = self.cleaned_data["code"].strip()
        if not value.isdigit():
            raise ValidationError(_("The code has 6 digits."), code="invalid")
        return value


class EmailProofForm(AccessibleFormMixin, forms.Form):
    email = forms.CharField(
        label=_("The e-mail address you gave in the request"),
        max_length=254,
        error_messages={"required": _("Enter your e-mail address.")},
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    def clean_email(self) -> str:
        try:
            return normalise_email(self.cleaned_data["email"])
        except ValidationError:
            raise ValidationError(
                _("Enter a valid e-mail address, like name@example.com."), code="invalid"
            ) from None
