"""Staff recovery codes: one-time codes for a lost phone (django-otp's otp_static).

Ten codes are made when a staff member enrols TOTP and shown once; making new
ones (after re-authentication) replaces all the old ones. A code works once, in
place of the TOTP code at sign-in, and counts against the same lockouts as a
wrong TOTP code. Making codes and using one are audited; the codes themselves
never are (nor logged).
"""

from __future__ import annotations

from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from requests_app.services.staff_auth import (
    login_failure_record,
    login_failures_clear,
    login_lock_check,
)
from retention.audit import log_action
from retention.models import AuditEntry

RECOVERY_CODE_COUNT = 10
DEVICE_NAME = "recovery"


def recovery_code_normalise(token: str) -> str:
    return (token or "").strip().replace(" ", "").replace("-", "").lower()


def recovery_code_looks_valid(token: str) -> bool:
    """Eight base32 characters, as StaticToken.random_token() makes them."""
    code = recovery_code_normalise(token)
    return len(code) == 8 and all(c in "abcdefghijklmnopqrstuvwxyz234567" for c in code)


def recovery_codes_remaining(*, user) -> int:
    return StaticToken.objects.filter(device__user=user, device__name=DEVICE_NAME).count()


@transaction.atomic
def recovery_codes_generate(*, user, reason: str) -> list[str]:
    """Replace the user's recovery codes with new ones; return them (shown once)."""
    StaticDevice.objects.filter(user=user, name=DEVICE_NAME).delete()
    device = StaticDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    log_action(
        action="staff.recovery_codes.generated",
        actor_kind=AuditEntry.ActorKind.STAFF,
        actor_id=user.pk,
        object_type="user",
        object_id=user.pk,
        data={"codes": len(codes), "reason": reason},
    )
    return codes


def recovery_code_check(*, user, username: str, token: str, ip: str) -> StaticDevice | None:
    """The recovery device if `token` is one of the user's unused codes (then used up)."""
    login_lock_check(username=username, ip=ip)
    code = recovery_code_normalise(token)
    with transaction.atomic():
        device = (
            StaticDevice.objects.select_for_update()
            .filter(user=user, name=DEVICE_NAME, confirmed=True)
            .first()
        )
        if device is None or not recovery_code_looks_valid(code) or not device.verify_token(code):
            login_failure_record(username=username, ip=ip)
            return None
        log_action(
            action="staff.recovery_code.used",
            actor_kind=AuditEntry.ActorKind.STAFF,
            actor_id=user.pk,
            object_type="user",
            object_id=user.pk,
            data={"remaining": device.token_set.count()},
        )
    login_failures_clear(username=username, ip=ip)
    return device
