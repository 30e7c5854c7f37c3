"""E-mails to the person: a subject / text / HTML triple of templates, in their language.

Templates live in `templates/emails/<name>.subject.txt`, `<name>.txt` and
`<name>.html`. They are rendered inside `translation.override(request.language)`.
In development the default backend writes each message as a file under
`var/mail/` (`EMAIL_URL`); docker compose points it at Mailpit.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from requests_app.models import SubjectRequest


def public_url(path: str) -> str:
    """An absolute URL on the public site (for links in e-mails)."""
    return settings.PORTAL_BASE_URL.rstrip("/") + path


def email_send(*, request: SubjectRequest, template: str, context: dict | None = None) -> None:
    """Render the triple in the request's language and send it to the request's address.

    An anonymised request has no address left: nothing is sent.
    """
    if not request.email:
        return
    email_send_to(
        to=request.email,
        language=request.language,
        template=template,
        reply_to=request.organisation.contact_email,
        context={"request": request, "organisation": request.organisation, **(context or {})},
    )


def email_send_to(
    *, to: str, language: str, template: str, reply_to: str, context: dict | None = None
) -> None:
    """Render the triple in `language` and send it to `to` (e.g. an Art. 19 recipient)."""
    context = context or {}
    with translation.override(language):
        subject = " ".join(render_to_string(f"emails/{template}.subject.txt", context).split())
        text = render_to_string(f"emails/{template}.txt", context)
        html = render_to_string(f"emails/{template}.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        reply_to=[reply_to],
    )
    message.attach_alternative(html, "text/html")
    message.send()
