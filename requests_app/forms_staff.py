"""Forms of the staff pages: plain forms that normalise input; views hand it to services."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils.translation import gettext_lazy as _

from requests_app.deadlines import MAX_EXTENSION_MONTHS
from requests_app.forms import AccessibleFormMixin
from requests_app.models import IdentityMethod, RefusalReason, RequestKind, RequestStatus
from requests_app.permissions import QUEUE_STATUSES
from retention.models import StaffMembership


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
    q = forms.CharField(label=_("Reference, name or e-mail"), required=False, max_length=200)

    def __init__(self, *args, organisations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].choices = [("", _("All my organisations"))] + [
            (o.slug, o.display_name) for o in organisations
        ]


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
    method = forms.ChoiceField(label=_("How was the identity confirmed?"), choices=IdentityMethod)
    note = forms.CharField(label=_("Details"), required=False, max_length=500)


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


class ReplyForm(AccessibleFormMixin, forms.Form):
    answer = forms.CharField(
        label=_("Your answer"),
        widget=forms.Textarea,
        max_length=5000,
        error_messages={"required": _("Write your answer.")},
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
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea, max_length=2000)
    subject_id = forms.IntegerField(label=_("Only this subject (id)"), required=False, min_value=1)
    category = forms.ChoiceField(label=_("Only this category"), required=False)
    ends_at = forms.DateTimeField(label=_("Ends at"), required=False)

    def __init__(self, *args, categories=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", _("All categories"))] + [
            (c.key, c.key) for c in categories
        ]


class TokenForm(AccessibleFormMixin, forms.Form):
    name = forms.CharField(label=_("What is the token for?"), max_length=100)


class MembershipForm(AccessibleFormMixin, forms.Form):
    username = forms.CharField(label=_("User name"), max_length=150)
    role = forms.ChoiceField(label=_("Role"), choices=StaffMembership.Role.choices)
