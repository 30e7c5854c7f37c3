"""Staff sign-in: password, then a TOTP code (django-otp), with lockouts; and API tokens.

Failed passwords and codes are counted in the cache (Redis, shared by every
web process) three ways, each within `STAFF_LOGIN_COOLOFF_SECONDS`:

- per (account name, client address): at `STAFF_LOGIN_MAX_FAILURES` that
  address waits out the cool-off for that account (429);
- per client address, any account: at `STAFF_LOGIN_IP_MAX_FAILURES` that
  address waits out the cool-off for every account (password spraying);
- per account, any address: at `STAFF_LOGIN_ACCOUNT_MAX_FAILURES` the account
  is *guarded* for the cool-off (renewed by each further failure). A guarded
  account's sign-in asks for both factors before it answers: the password
  step always moves on to the code step, a wrong password is reported only
  after the code, as one failure, and no code is checked after a wrong
  password. Its owner, with the right password and a current code, signs in
  as usual; a guesser learns nothing from a password alone and would need the
  current TOTP code in the same attempt (about 3 in 10^6).

Why a guard and not a per-account lockout or delay: whatever a stranger's
failures can switch on, a stranger can keep switched on, so any lockout or
back-off of the account itself would let anyone keep its owner out (five wrong
passwords used to do that behind a proxy). The per-address limits stop one
machine; the guard makes guessing from many machines useless; neither makes
the owner wait. django-otp's own back-off of a device after wrong codes can
only be triggered by someone who already has the password.

The client address is `requests_app.ratelimit.client_ip` (X-Forwarded-For
only from `TRUSTED_PROXIES`). The answers are the same whether or not the
account exists, and an unknown account name is counted like a known one.
Cache keys hold an HMAC of the name and address, never the values.

Without the counters (Redis frozen or down) sign-in fails closed
(`LoginUnavailable`, answered 503 "try again in a minute"): with no count of
failures, nothing would stop a guesser. Each call has `REDIS_TIMEOUT` and goes
through the server's circuit breaker, so a frozen Redis costs one short wait.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import secrets

import redis
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from requests_app.breaker import breaker_for
from requests_app.models import StaffApiToken
from retention.audit import log_action
from retention.keyring import hmac_digest
from retention.models import AuditEntry

_PREFIX = "staff-login"
API_TOKEN_PREFIX = "dsrs_"  # noqa: S105  (a marker, not a secret)


class LoginLocked(Exception):
    def __init__(self, retry_after: int):
        self.retry_after = max(1, int(retry_after))
        super().__init__(f"locked; retry after {self.retry_after}s")


class LoginUnavailable(LoginLocked):
    """The failure counters cannot be reached: sign-in and re-authentication wait (503)."""

    def __init__(self):
        super().__init__(max(30, int(settings.REDIS_BREAKER_SECONDS)))


@contextlib.contextmanager
def _counters():
    """Calls to the counters' Redis, through its breaker; `LoginUnavailable` when it is out."""
    breaker = breaker_for(settings.REDIS_URL)
    if not breaker.allow():
        raise LoginUnavailable
    try:
        yield
    except redis.RedisError as exc:
        breaker.failed(exc)
        raise LoginUnavailable from exc
    breaker.succeeded()


def _name(username: str) -> str:
    return (username or "").strip().lower()


def _key(kind: str, *parts: str) -> str:
    digest = hmac_digest(purpose="token", message=f"staff-login:{'|'.join(parts)}")
    return f"{_PREFIX}:{kind}:{digest[:32]}"


def _pair(username: str, ip: str) -> tuple[str, str]:
    return _name(username), ip


def login_lock_check(*, username: str, ip: str) -> None:
    """Raise `LoginLocked` while the (account, address) pair or the address cools off."""
    keys = [_key("lock", *_pair(username, ip)), _key("ip-lock", ip)]
    now = timezone.now().timestamp()
    with _counters():
        found = cache.get_many(keys)
    left = [int(until - now) for until in found.values() if until is not None]
    if left and max(left) > 0:
        raise LoginLocked(max(left))


def login_guarded(*, username: str) -> bool:
    """Whether the account asks for both factors before answering (see the module doc)."""
    with _counters():
        return cache.get(_key("guard", _name(username))) is not None


def _count(key: str, timeout: int) -> int:
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=timeout)
        return 1


def login_failure_record(*, username: str, ip: str) -> None:
    """Count one failed password or code per pair, address and account; lock or guard."""
    with _counters():
        _failure_count(username=username, ip=ip)


def _failure_count(*, username: str, ip: str) -> None:
    cooloff = settings.STAFF_LOGIN_COOLOFF_SECONDS
    until = timezone.now().timestamp() + cooloff
    pair = _pair(username, ip)
    failures = _count(_key("fail", *pair), cooloff)
    if failures >= settings.STAFF_LOGIN_MAX_FAILURES:
        cache.set(_key("lock", *pair), until, cooloff)
        cache.delete(_key("fail", *pair))
        log_action(action="staff.login.locked", data={"failures": failures})
    address_failures = _count(_key("ip-fail", ip), cooloff)
    if address_failures >= settings.STAFF_LOGIN_IP_MAX_FAILURES:
        cache.set(_key("ip-lock", ip), until, cooloff)
        cache.delete(_key("ip-fail", ip))
        log_action(action="staff.login.address_locked", data={"failures": address_failures})
    account_failures = _count(_key("account-fail", _name(username)), cooloff)
    if account_failures >= settings.STAFF_LOGIN_ACCOUNT_MAX_FAILURES:
        guard = _key("guard", _name(username))
        if cache.get(guard) is None:
            log_action(action="staff.login.guarded", data={"failures": account_failures})
        cache.set(guard, until, cooloff)


def login_failures_clear(*, username: str, ip: str) -> None:
    """After a sign-in with both factors: the pair starts again (the guard cools off alone).

    Best effort: the sign-in succeeded, and counters left behind expire with the cool-off.
    """
    with contextlib.suppress(LoginUnavailable), _counters():
        cache.delete_many([_key("fail", *_pair(username, ip)), _key("lock", *_pair(username, ip))])


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


def staff_identity_confirm(*, request, user, code: str, password: str, ip: str) -> bool:
    """Whether the signed-in `user` proved it is them again: a current TOTP code, or else
    their password (re-authentication before a destructive action). Raises `LoginLocked`."""
    username = user.get_username()
    if code:
        return totp_code_check(user=user, username=username, token=code, ip=ip) is not None
    if password:
        return (
            staff_password_check(request=request, username=username, password=password, ip=ip)
            is not None
        )
    return False


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
