"""Staff sign-in: password, then a TOTP code (django-otp), with lockouts; and API tokens.

Failed passwords and failed codes count against the pair (account name, client
IP) in the cache (Redis, shared by every web process). After
`STAFF_LOGIN_MAX_FAILURES` failures the pair is locked for
`STAFF_LOGIN_COOLOFF_SECONDS`; the answer is the same whether or not the
account exists, and an unknown account name is counted like a known one.
Cache keys hold an HMAC of the name and IP, never the values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import secrets

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from requests_app.models import StaffApiToken
from retention.audit import log_action
from retention.models import AuditEntry

_PREFIX = "staff-login"
API_TOKEN_PREFIX = "dsrs_"  # noqa: S105  (a marker, not a secret)


class LoginLocked(Exception):
    def __init__(self, retry_after: int):
        self.retry_after = max(1, int(retry_after))
        super().__init__(f"locked; retry after {self.retry_after}s")


def _key(kind: str, username: str, ip: str) -> str:
    value = f"{(username or '').strip().lower()}|{ip}"
    digest = hmac.new(settings.SECRET_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()
    return f"{_PREFIX}:{kind}:{digest[:32]}"


def login_lock_check(*, username: str, ip: str) -> None:
    """Raise `LoginLocked` while the (account, IP) pair cools off."""
    until = cache.get(_key("lock", username, ip))
    if until is not None:
        left = int(until - timezone.now().timestamp())
        if left > 0:
            raise LoginLocked(left)


def login_failure_record(*, username: str, ip: str) -> None:
    """Count one failed password or code; lock the pair at the limit."""
    cooloff = settings.STAFF_LOGIN_COOLOFF_SECONDS
    key = _key("fail", username, ip)
    cache.add(key, 0, timeout=cooloff)
    try:
        failures = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=cooloff)
        failures = 1
    if failures >= settings.STAFF_LOGIN_MAX_FAILURES:
        cache.set(_key("lock", username, ip), timezone.now().timestamp() + cooloff, cooloff)
        cache.delete(key)
        log_action(action="staff.login.locked", data={"failures": failures})


def login_failures_clear(*, username: str, ip: str) -> None:
    cache.delete_many([_key("fail", username, ip), _key("lock", username, ip)])


def staff_password_check(*, request, username: str, password: str, ip: str):
    """The user if the password is right (and the pair is not locked); None otherwise."""
    login_lock_check(username=username, ip=ip)
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        login_failure_record(username=username, ip=ip)
        return None
    return user


def totp_device(*, user, confirmed: bool = True) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).order_by("id").first()


def totp_code_check(*, user, username: str, token: str, ip: str) -> TOTPDevice | None:
    """The confirmed device if `token` is a current code of it (each code works once)."""
    login_lock_check(username=username, ip=ip)
    device = totp_device(user=user)
    token = (token or "").strip().replace(" ", "")
    with transaction.atomic():
        if device is not None:
            device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        if device is None or not token.isdigit() or not device.verify_token(token):
            login_failure_record(username=username, ip=ip)
            return None
    login_failures_clear(username=username, ip=ip)
    return device


def totp_enrolment_start(*, user) -> TOTPDevice:
    """The unconfirmed device to enrol (created once, reused until confirmed)."""
    device = totp_device(user=user, confirmed=False)
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="TOTP", confirmed=False)
    return device


def totp_enrolment_confirm(*, user, username: str, token: str, ip: str) -> TOTPDevice | None:
    """Confirm the device with a first code; None when the code is wrong."""
    login_lock_check(username=username, ip=ip)
    token = (token or "").strip().replace(" ", "")
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False)
            .order_by("id")
            .first()
        )
        if device is None or not token.isdigit() or not device.verify_token(token):
            login_failure_record(username=username, ip=ip)
            return None
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        log_action(
            action="staff.totp.enrolled",
            actor_kind=AuditEntry.ActorKind.STAFF,
            actor_id=user.pk,
            object_type="user",
            object_id=user.pk,
        )
    login_failures_clear(username=username, ip=ip)
    return device


def totp_qr_svg(*, device: TOTPDevice) -> str:
    """The enrolment QR code as inline SVG (no request leaves the server)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode()
    return svg[svg.index("<svg") :]


def totp_secret_base32(*, device: TOTPDevice) -> str:
    import base64

    return base64.b32encode(device.bin_key).decode().rstrip("=")


def staff_login_record(*, user) -> None:
    log_action(
        action="staff.login.succeeded",
        actor_kind=AuditEntry.ActorKind.STAFF,
        actor_id=user.pk,
        object_type="user",
        object_id=user.pk,
    )


# --- API tokens ---------------------------------------------------------------------


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_issue(*, user, name: str) -> tuple[str, StaffApiToken]:
    """A new token; the raw value is returned once and stored only as a hash."""
    raw = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        token = StaffApiToken.objects.create(
            user=user,
            name=(name or "API").strip()[:100],
            prefix=raw[:12],
            key_hash=_token_hash(raw),
            created_at=now,
            expires_at=now + dt.timedelta(days=settings.STAFF_API_TOKEN_DAYS),
        )
        log_action(
            action="staff.api_token.issued",
            actor_kind=AuditEntry.ActorKind.STAFF,
            actor_id=user.pk,
            object_type="api_token",
            object_id=token.pk,
        )
    return raw, token


def api_token_revoke(*, user, token_id: int) -> bool:
    with transaction.atomic():
        updated = StaffApiToken.objects.filter(
            pk=token_id, user=user, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
        if updated:
            log_action(
                action="staff.api_token.revoked",
                actor_kind=AuditEntry.ActorKind.STAFF,
                actor_id=user.pk,
                object_type="api_token",
                object_id=token_id,
            )
    return bool(updated)


def api_token_authenticate(*, raw: str):
    """The active user of a valid, unexpired, unrevoked token; None otherwise."""
    if not raw or not raw.startswith(API_TOKEN_PREFIX):
        return None
    now = timezone.now()
    token = (
        StaffApiToken.objects.select_related("user")
        .filter(key_hash=_token_hash(raw), revoked_at__isnull=True, expires_at__gt=now)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=5):
        StaffApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
