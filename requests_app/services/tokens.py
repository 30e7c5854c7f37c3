"""Secrets that open a request's status: single-use e-mail links and API bearer tokens.

Only an HMAC (keyed with SECRET_KEY) of a token is stored. A link token is
exchanged once for a browser session (the status page then needs no secret in
its URL); an API token is short-lived and bound to one request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.conf import settings
from django.utils import timezone

from requests_app.models import StatusToken, SubjectRequest


def token_hmac(token: str) -> str:
    return hmac.new(
        settings.SECRET_KEY.encode(), f"status-token:{token}".encode(), hashlib.sha256
    ).hexdigest()


def _ttl(kind: str) -> dt.timedelta:
    if kind == StatusToken.Kind.LINK:
        return dt.timedelta(hours=settings.STATUS_LINK_TTL_HOURS)
    return dt.timedelta(minutes=settings.STATUS_API_TOKEN_TTL_MINUTES)


def status_token_issue(
    *, request: SubjectRequest, kind: str, outbox_message_id: int | None = None
) -> tuple[str, StatusToken]:
    """A new token (returned once, in clear) and its stored row."""
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    row = StatusToken.objects.create(
        request=request,
        kind=kind,
        token_hmac=token_hmac(token),
        created_at=now,
        expires_at=now + _ttl(kind),
        outbox_message_id=outbox_message_id,
    )
    return token, row


def status_token_exchange(*, request: SubjectRequest, token: str) -> bool:
    """Use a link token of this request once; True when it was valid and unused.

    One conditional UPDATE claims it, so two clicks at the same moment cannot
    both succeed.
    """
    if not token:
        return False
    now = timezone.now()
    claimed = StatusToken.objects.filter(
        request=request,
        kind=StatusToken.Kind.LINK,
        token_hmac=token_hmac(token),
        used_at__isnull=True,
        expires_at__gt=now,
    ).update(used_at=now)
    return claimed == 1


def status_token_lookup(*, reference: str, token: str) -> StatusToken | None:
    """The unexpired API token row for `reference` (its `created_at` says how fresh the
    proof is: API tokens are issued only for a code just entered)."""
    if not token:
        return None
    row = (
        StatusToken.objects.select_related("request", "request__organisation")
        .filter(token_hmac=token_hmac(token), kind=StatusToken.Kind.API)
        .first()
    )
    if row is None or row.expires_at <= timezone.now():
        return None
    # The stored HMAC matched; compare the reference in constant time as well.
    if not hmac.compare_digest(row.request.reference.encode(), (reference or "").encode()):
        return None
    return row


def status_token_authenticate(*, reference: str, token: str) -> SubjectRequest | None:
    """The request an unexpired API token opens, if it is the one named by `reference`."""
    row = status_token_lookup(reference=reference, token=token)
    return row.request if row is not None else None
