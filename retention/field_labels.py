"""Readable names of the fields of records, in the active language.

A policy names the fields of a category by key (`fields: [invoice_number, amount]`,
`retention/policies/README.md`); what the person reads (the reply to an erasure, a
recipient's notice of a correction) names them with these labels, translated like every
other string (Swedish in `locale/sv`). The five policies' fields are all here; a field
without a label is shown as its key with spaces (`order_number` -> "order number").
"""

from __future__ import annotations

from django.utils.translation import pgettext_lazy

FIELD_LABELS = {
    "address": pgettext_lazy("record field", "address"),
    "age": pgettext_lazy("record field", "age"),
    "amount": pgettext_lazy("record field", "amount"),
    "attendance": pgettext_lazy("record field", "attendance"),
    "call_recording": pgettext_lazy("record field", "call recording"),
    "certificate": pgettext_lazy("record field", "certificate"),
    "city_size": pgettext_lazy("record field", "size of your town"),
    "company": pgettext_lazy("record field", "company"),
    "complaint": pgettext_lazy("record field", "complaint"),
    "completed": pgettext_lazy("record field", "completed"),
    "consent_given_at": pgettext_lazy("record field", "when consent was given"),
    "content": pgettext_lazy("record field", "content"),
    "cookie_id": pgettext_lazy("record field", "cookie ID"),
    "course": pgettext_lazy("record field", "course"),
    "credit_check_date": pgettext_lazy("record field", "date of the credit check"),
    "credit_report": pgettext_lazy("record field", "credit report"),
    "currency": pgettext_lazy("record field", "currency"),
    "customer_address": pgettext_lazy("record field", "customer's address"),
    "customer_name": pgettext_lazy("record field", "customer's name"),
    "customer_number": pgettext_lazy("record field", "customer number"),
    "customer_role": pgettext_lazy("record field", "role as a customer"),
    "department": pgettext_lazy("record field", "department"),
    "description": pgettext_lazy("record field", "description"),
    "diagnostic_log": pgettext_lazy("record field", "diagnostic log"),
    "download_history": pgettext_lazy("record field", "download history"),
    "due_date": pgettext_lazy("record field", "due date"),
    "email": pgettext_lazy("record field", "e-mail address"),
    "employer": pgettext_lazy("record field", "employer"),
    "fault_report": pgettext_lazy("record field", "fault report"),
    "gender": pgettext_lazy("record field", "gender"),
    "health_information": pgettext_lazy("record field", "health information"),
    "image": pgettext_lazy("record field", "image"),
    "information": pgettext_lazy("record field", "information you gave"),
    "invoice_date": pgettext_lazy("record field", "invoice date"),
    "invoice_number": pgettext_lazy("record field", "invoice number"),
    "ip_address": pgettext_lazy("record field", "IP address"),
    "job_title": pgettext_lazy("record field", "job title"),
    "login_history": pgettext_lazy("record field", "log-in history"),
    "message": pgettext_lazy("record field", "message"),
    "name": pgettext_lazy("record field", "name"),
    "newsletter_subscriptions": pgettext_lazy("record field", "newsletter subscriptions"),
    "note": pgettext_lazy("record field", "note"),
    "order_number": pgettext_lazy("record field", "order number"),
    "password_hash": pgettext_lazy("record field", "password (stored as a hash)"),
    "payment_date": pgettext_lazy("record field", "payment date"),
    "payment_method": pgettext_lazy("record field", "payment method"),
    "personal_identity_number": pgettext_lazy("record field", "personal identity number"),
    "phone": pgettext_lazy("record field", "phone number"),
    "purchased_service": pgettext_lazy("record field", "purchased service"),
    "questionnaire_answers": pgettext_lazy("record field", "questionnaire answers"),
    "rating": pgettext_lazy("record field", "rating"),
    "recorded_at": pgettext_lazy("record field", "time of the recording"),
    "represented_party": pgettext_lazy("record field", "party represented"),
    "role": pgettext_lazy("record field", "role"),
    "service_usage": pgettext_lazy("record field", "use of the service"),
    "services": pgettext_lazy("record field", "services"),
    "session_id": pgettext_lazy("record field", "session identifier"),
    "settings": pgettext_lazy("record field", "settings"),
    "source": pgettext_lazy("record field", "source"),
    "started": pgettext_lazy("record field", "started"),
    "subscription": pgettext_lazy("record field", "subscription"),
    "subscription_end": pgettext_lazy("record field", "end of the subscription"),
    "subscription_start": pgettext_lazy("record field", "start of the subscription"),
    "survey": pgettext_lazy("record field", "survey"),
    "survey_answers": pgettext_lazy("record field", "survey answers"),
    "test_result": pgettext_lazy("record field", "test result"),
    "username": pgettext_lazy("record field", "user name"),
    "vat": pgettext_lazy("record field", "VAT"),
}


def field_label(key: str) -> str:
    """The field's label in the active language; its key made readable if it has none."""
    label = FIELD_LABELS.get(key)
    return str(label) if label is not None else key.replace("_", " ")
