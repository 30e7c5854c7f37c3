"""Forms of the fulfilment part of a request's staff page; the services check the rules."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class PlanApproveForm(forms.Form):
    pass


class RetryForm(forms.Form):
    """Hand a failed erasure job or package build to the workers again (nothing to fill in)."""


class CorrectionDecisionForm(forms.Form):
    """Accept one proposed correction into a record's field, or reject it with a reason."""

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

    def clean(self):
        data = super().clean()
        if data.get("decision") == "accept" and not data.get("target"):
            self.add_error("target", _("Choose the record and field the correction goes into."))
        if data.get("decision") == "reject" and not (data.get("reason") or "").strip():
            self.add_error("reason", _("Tell the person why the correction is rejected."))
        return data


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
