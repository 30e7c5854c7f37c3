"""The e-mailed code: 6 digits, bound to its request, 10 minutes, single use, 5 tries."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail

from requests_app.models import RequestStatus, VerificationCode
from requests_app.services.verification import (
    CodeResult,
    VerificationFailed,
    verification_check,
    verification_request_new,
    verification_send,
)
from retention.models import AuditEntry

from .conftest import last_code
from .helpers import submit


@pytest.fixture
def filed(org, deliver):
    with deliver():
        request = submit(org)
    return request


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_the_code_is_six_digits_and_stored_only_as_an_hmac(filed):
    code = last_code()
    assert len(code) == 6 and code.isdigit()
    row = VerificationCode.objects.get(request=filed)
    assert code not in row.code_hmac and len(row.code_hmac) == 64
    assert row.expires_at - row.created_at == dt.timedelta(minutes=10)


def test_the_right_code_verifies_the_request(filed):
    request = verification_check(request=filed, code=last_code())
    assert request.status == RequestStatus.NEW
    assert request.verified_at is not None
    assert AuditEntry.objects.filter(action="requests.request.verified").count() == 1


def test_a_code_works_only_once(filed):
    code = last_code()
    verification_check(request=filed, code=code)
    with pytest.raises(VerificationFailed) as excinfo:
        verification_check(request=filed, code=code)
    assert excinfo.value.result is CodeResult.EXPIRED


def test_a_code_expires_after_ten_minutes(filed):
    code = last_code()
    with (
        time_machine.travel(dt.timedelta(minutes=10, seconds=1)),
        pytest.raises(VerificationFailed) as excinfo,
    ):
        verification_check(request=filed, code=code)
    assert excinfo.value.result is CodeResult.EXPIRED
    filed.refresh_from_db()
    assert filed.status == RequestStatus.UNVERIFIED


def test_a_code_still_works_just_before_it_expires(filed):
    code = last_code()
    with time_machine.travel(dt.timedelta(minutes=9, seconds=59)):
        assert verification_check(request=filed, code=code).status == RequestStatus.NEW


def test_five_wrong_tries_void_the_code(filed):
    code = last_code()
    for left in (4, 3, 2, 1):
        with pytest.raises(VerificationFailed) as excinfo:
            verification_check(request=filed, code=wrong(code))
        assert excinfo.value.result is CodeResult.WRONG
        assert excinfo.value.attempts_left == left
    with pytest.raises(VerificationFailed) as excinfo:
        verification_check(request=filed, code=wrong(code))
    assert excinfo.value.result is CodeResult.LOCKED
    # Even the right code no longer works.
    with pytest.raises(VerificationFailed) as excinfo:
        verification_check(request=filed, code=code)
    assert excinfo.value.result is CodeResult.LOCKED
    row = VerificationCode.objects.get(request=filed)
    assert row.void and row.attempts == 5


def test_a_code_is_bound_to_its_request(org, deliver):
    with deliver():
        first = submit(org, email="first@example.org")
    first_code = last_code("first@example.org")
    with deliver():
        second = submit(org, email="second@example.org")
    with pytest.raises(VerificationFailed):
        verification_check(request=second, code=first_code)
    assert VerificationCode.objects.get(request=second).attempts == 1
    assert verification_check(request=first, code=first_code).status == RequestStatus.NEW


def test_a_new_code_replaces_the_old_one(filed, deliver):
    old = last_code()
    with deliver():
        verification_request_new(request=filed)
    new = last_code()
    assert len(mail.outbox) == 2
    assert VerificationCode.objects.filter(request=filed, void=True).count() == 1
    if old != new:  # one time in a million they are equal
        with pytest.raises(VerificationFailed):
            verification_check(request=filed, code=old)
    assert verification_check(request=filed, code=new).status == RequestStatus.NEW


def test_a_new_code_unlocks_after_the_limit(filed, deliver):
    for _ in range(5):
        with pytest.raises(VerificationFailed):
            verification_check(request=filed, code=wrong(last_code()))
    with deliver():
        verification_request_new(request=filed)
    assert verification_check(request=filed, code=last_code()).status == RequestStatus.NEW


def test_a_redelivered_message_sends_no_second_code(filed):
    row = VerificationCode.objects.get(request=filed)
    assert verification_send(request_id=filed.pk, outbox_message_id=row.outbox_message_id) is False
    assert len(mail.outbox) == 1
    assert VerificationCode.objects.filter(request=filed).count() == 1


def test_the_code_mail_is_in_the_requests_language(org, deliver):
    with deliver():
        submit(org, language="en", email="en@example.org")
    message = mail.outbox[-1]
    assert message.subject.endswith("is your code for your request to Testbolaget")
    assert "The code is valid for 10 minutes" in message.body
    html = message.alternatives[0][0]
    assert '<html lang="en">' in html and last_code() in html
