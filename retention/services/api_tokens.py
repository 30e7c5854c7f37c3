"""API tokens of an organisation's own systems (the record-store API, `retention.api`).

A token is ``dsr_`` and 32 random bytes (base64url), shown once when it is
created (`python manage.py create_api_token SLUG NAME`); only its SHA-256 is
stored, so a lookup is an index scan on the hash.
"""

from __future__ import annotations

import hashlib
import secrets

from django.utils import timezone

from retention.models import Organisation, OrganisationApiToken

PREFIX = "dsr_"


def _token_hash(token: bytes) -> str:
    return hashlib.sha256(token).hexdigest()


def api_token_create(*, organisation: Organisation, name: str) -> str:
    """A new token for the organisation's systems; only its hash is stored."""
    token = PREFIX + secrets.token_urlsafe(32)
    OrganisationApiToken.objects.create(
        organisation=organisation, name=name, token_hash=_token_hash(token.encode())
    )
    return token


def api_token_authenticate(*, token: bytes) -> OrganisationApiToken | None:
    """The unrevoked token (with its organisation) that `token` is, marked used now; or None."""
    found = (
        OrganisationApiToken.objects.select_related("organisation")
        .filter(token_hash=_token_hash(token), revoked_at__isnull=True)
        .first()
    )
    if found is not None:
        OrganisationApiToken.objects.filter(pk=found.pk).update(last_used_at=timezone.now())
    return found
