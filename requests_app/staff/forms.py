"""Forms of the staff pages: plain forms that normalise input; views hand it to services."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from requests_app.accessible_forms import AccessibleFormMixin
from requests_app.deadlines import MAX_EXTENSION_MONTHS
from requests_app.models import IdentityMethod, RefusalReason, RequestKind, RequestStatus
from requests_app.permissions import QUEUE_STATUSES
from retention.models import StaffMembership
from retention.services.subjects import FIND_KINDS

SUBJECT_KINDS = [(kind.value, capfirst(kind.label)) for kind in FIND_KINDS]


class LoginForm(AccessibleFormMixin, forms.Form):
    username = forms.CharField(label=_("User name"), max_length=150)
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput, max_length=500)

    def clean_username(self):
        return self.cleaned_data["username"].strip()


class CodeForm(AccessibleFormMixin, forms.Form):
    code = forms.CharField(
        label=_("Six-digit code from your authenticator app"),
        max_length=10,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )

    def clean_code(self):
        code = self.cleaned_data["code"].replace(" ", "")
        if not (code.isdigit() and len(code) == 6):
            raise forms.ValidationError(_("Enter the six digits shown in your app."))
        return code


class LoginCodeForm(AccessibleFormMixin, forms.Form):
    """The sign-in's second step: a TOTP code, or one of the recovery codes."""

    code = forms.CharField(
        label=_("Six-digit code from your authenticator app, or a recovery code"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )

    def clean_code(self):
        from requests_app.services.staff_recovery import (
            recovery_code_looks_valid,
            recovery_code_normalise,
        )

        code = self.cleaned_data["code"].replace(" ", "")
        if code.isdigit() and len(code) == 6:
            return code
        if recovery_code_looks_valid(code):
            return recovery_code_normalise(code)
        raise forms.ValidationError(
            _("Enter the six digits shown in your app, or one of your recovery codes.")
        )


class ReauthForm(AccessibleFormMixin, forms.Form):
    password = forms.CharField(
        label=_("Password"), widget=forms.PasswordInput, required=False, max_length=500
    )
    code = forms.CharField(
        label=_("or a six-digit code from your authenticator app"), required=False, max_length=10
    )

    def clean(self):
        data = super().clean()
        data["code"] = (data.get("code") or "").replace(" ", "")
        if not data.get("password") and not data["code"]:
            raise forms.ValidationError(_("Enter your password or a code."))
        return data


def _status_choices():
    statuses = dict(RequestStatus.choices)
    return [
        ("open", _("Open (not closed)")),
        ("all", _("All")),
        *[(s, statuses[s]) for s in QUEUE_STATUSES],
    ]


class QueueFilterForm(AccessibleFormMixin, forms.Form):
    organisation = forms.ChoiceField(label=_("Organisation"), required=False)
    kind = forms.ChoiceField(
        label=_("Type"), required=False, choices=[("", _("All types")), *RequestKind.choices]
    )
    status = forms.ChoiceField(label=_("Status"), required=False, choices=_status_choices)
    assignee = forms.ChoiceField(
        label=_("Assignee"),
        required=False,
        choices=[("", _("Anyone")), ("me", _("Me")), ("none", _("Nobody"))],
    )
    due_within = forms.IntegerField(
        label=_("Due within (days)"), required=False, min_value=0, max_value=365
    )
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)
    awaiting = forms.BooleanField(label=_("Awaiting the person"), required=False)
    q = forms.CharField(
        label=_("Reference, name or e-mail"),
        required=False,
        max_length=200,
        widget=forms.SearchInput,
    )
    # The column the table is sorted by (from the column headers): kept when filtering.
    sort = forms.CharField(required=False, max_length=20, widget=forms.HiddenInput)

    def __init__(self, *args, organisations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].choices = [("", _("All my organisations"))] + [
            (o.slug, o.display_name) for o in organisations
        ]
        self.fields["due_within"].widget.attrs["inputmode"] = "numeric"


class SavedFilterForm(AccessibleFormMixin, forms.Form):
    name = forms.CharField(label=_("Save this filter as"), max_length=60)
    query = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)


class BulkAssignForm(AccessibleFormMixin, forms.Form):
    """Assign the requests ticked in the queue (the checkboxes name `requests`)."""

    assignee = forms.ModelChoiceField(
        label=_("Assign the selected requests to"), queryset=None, empty_label=_("Choose…")
    )

    def __init__(self, *args, assignees, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignees


class AssignForm(AccessibleFormMixin, forms.Form):
    assignee = forms.ModelChoiceField(label=_("Assign to"), queryset=None)

    def __init__(self, *args, assignees, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignees


class NoteForm(AccessibleFormMixin, forms.Form):
    body = forms.CharField(label=_("Internal note"), widget=forms.Textarea, max_length=5000)


class AskInfoForm(AccessibleFormMixin, forms.Form):
    question = forms.CharField(
        label=_("What do you need from the person?"), widget=forms.Textarea, max_length=2000
    )


class IdentityForm(AccessibleFormMixin, forms.Form):
    """An identity check proves one matched subject: staff choose which."""

    match = forms.TypedChoiceField(label=_("Whose identity (matched subject)"), coerce=int)
    method = forms.ChoiceField(label=_("How was the identity confirmed?"), choices=IdentityMethod)
    note = forms.CharField(label=_("Details"), required=False, max_length=500)

    def __init__(self, *args, matches=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["match"].choices = [
            (m.id, _("Subject %(id)s") % {"id": m.subject_id}) for m in matches
        ]


class ExtendForm(AccessibleFormMixin, forms.Form):
    months = forms.TypedChoiceField(
        label=_("Extend by"),
        coerce=int,
        choices=[(1, _("one month")), (2, _("two months"))][:MAX_EXTENSION_MONTHS],
    )
    reason = forms.CharField(
        label=_("Reason (the person is told)"), widget=forms.Textarea, max_length=2000
    )


class RefuseForm(AccessibleFormMixin, forms.Form):
    reasons = forms.MultipleChoiceField(
        label=_("Reasons"), choices=RefusalReason, widget=forms.CheckboxSelectMultiple
    )
    text = forms.CharField(
        label=_("Explanation to the person"), widget=forms.Textarea, max_length=10000
    )


class ApproveForm(AccessibleFormMixin, forms.Form):
    pass


class CompleteForm(AccessibleFormMixin, forms.Form):
    reply = forms.CharField(label=_("Reply to the person"), widget=forms.Textarea, max_length=10000)


class CancelForm(AccessibleFormMixin, forms.Form):
    note = forms.CharField(
        label=_("How did the person ask to cancel?"), required=False, max_length=2000
    )


class PeriodForm(AccessibleFormMixin, forms.Form):
    start = forms.DateField(label=_("From"), required=False)
    end = forms.DateField(label=_("To"), required=False)

    def period(self, today: dt.date) -> tuple[dt.date, dt.date]:
        data = self.cleaned_data if self.is_valid() else {}
        end = data.get("end") or today
        start = data.get("start") or end - dt.timedelta(days=90)
        return (start, end) if start <= end else (end, start)


class HoldForm(AccessibleFormMixin, forms.Form):
    """A legal hold: on the whole organisation, one category, one person, or both.

    Staff name the person by what they know of them (`retention.services.subjects`);
    the lookup, with its normalisation, is the service's.
    """

    reason = forms.CharField(
        label=_("Reason"),
        help_text=_("Why the data must be kept: the case, the authority's order, the dispute."),
        widget=forms.Textarea(attrs={"rows": 8}),
        max_length=2000,
    )
    subject_kind = forms.ChoiceField(
        label=_("Find the person by"), choices=SUBJECT_KINDS, required=False, initial="email"
    )
    subject_value = forms.CharField(
        label=_("Only this person"),
        help_text=_(
            "Their e-mail address, personnummer or customer number. Leave empty to hold "
            "everyone's records (in the category below, if you choose one)."
        ),
        required=False,
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    category = forms.ChoiceField(label=_("Only this category"), required=False)
    ends_at = forms.DateTimeField(label=_("Ends at"), required=False)

    def __init__(self, *args, categories=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", _("All categories"))] + [
            (c.key, c.key) for c in categories
        ]
        for name in ("reason", "subject_value"):  # the help text, read with the field
            self.fields[name].widget.attrs["aria-describedby"] = f"id_{name}_helptext"

    def clean_subject_value(self):
        return self.cleaned_data["subject_value"].strip()


class StaffSettingsForm(AccessibleFormMixin, forms.Form):
    language = forms.ChoiceField(
        label=_("Language of the staff pages and of your e-mails"),
        choices=[
            ("sv", "Svenska"),
            ("en", "English"),
            ("", _("No choice: the pages follow this browser, e-mails your organisation")),
        ],
        widget=forms.RadioSelect,
        required=False,
    )


class TokenForm(AccessibleFormMixin, forms.Form):
    name = forms.CharField(label=_("What is the token for?"), max_length=100)


class MembershipForm(AccessibleFormMixin, forms.Form):
    username = forms.CharField(label=_("User name"), max_length=150)
    role = forms.ChoiceField(label=_("Role"), choices=StaffMembership.Role.choices)


# --- Fulfilment: the erasure plan, decisions, lifting a restriction, retries ----------------


class PlanApproveForm(forms.Form):
    pass


class RetryForm(forms.Form):
    """Hand a failed erasure job or package build to the workers again (nothing to fill in)."""


class CorrectionDecisionForm(forms.Form):
    """Accept one proposed correction into a record's field, or reject it with a reason.

    That an acceptance names its target and a rejection its reason is the service's rule
    (`fulfilment.correction_decide`), checked there once for the page and the API."""

    index = forms.IntegerField(widget=forms.HiddenInput, min_value=0)
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[("accept", _("Accept")), ("reject", _("Reject"))],
        widget=forms.RadioSelect,
    )
    target = forms.ChoiceField(label=_("Record and field to correct"), required=False)
    value = forms.CharField(
        label=_("New value (empty: what the person wrote)"), required=False, max_length=500
    )
    reason = forms.CharField(
        label=_("Why it is rejected (the person is told)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, targets=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = [("", "–"), *targets]


class ObjectionDecisionForm(forms.Form):
    """Do compelling legitimate grounds override the objection to this purpose (Art. 21(1))?"""

    purpose = forms.CharField(widget=forms.HiddenInput, max_length=60)
    compelling = forms.TypedChoiceField(
        label=_("Decision"),
        coerce=lambda value: value == "yes",
        choices=[
            ("no", _("No compelling grounds: stop processing for this purpose")),
            ("yes", _("Compelling legitimate grounds override the objection")),
        ],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label=_("The compelling grounds (the person is told them)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class RestrictionLiftForm(forms.Form):
    reason = forms.CharField(
        label=_("Why the restriction is lifted (the person is told first)"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
