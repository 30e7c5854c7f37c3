"""Secrets that open a request's status: single-use e-mail links and API bearer tokens.

Only an HMAC of a token is stored (``kid$hex``, the `token` keyring of
`retention.keyring`, not SECRET_KEY); a token is looked up under every key
of the keyring, so it outlives a key rotation. A link token is exchanged once
for a browser session (the status page then needs no secret in its URL); an
API token is short-lived and bound to one request.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets

from django.conf import settings
from django.utils import timezone

from requests_app.models import StatusToken, SubjectRequest
from retention.keyring import hmac_candidates, hmac_sign


def token_hmac(token: str) -> str:
    """The stored form of a new token, under the signing key."""
    return hmac_sign(purpose="token", message=f"status-token:{token}")


def token_hmac_candidates(token: str) -> list[str]:
    """The stored forms of `token` under every key of the keyring."""
    return hmac_candidates(purpose="token", message=f"status-token:{token}")


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
        token_hmac__in=token_hmac_candidates(token),
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
        .filter(token_hmac__in=token_hmac_candidates(token), kind=StatusToken.Kind.API)
        .first()
    )
    if row is None or row.expires_at <= timezone.now():
        return None
    # The stored HMAC matched; compare the reference in constant time as well.
    if not hmac.compare_digest(row.request.reference.encode(), (reference or "").encode()):
        return None
    return row
