"""The e-mailed code: 6 digits, bound to its request, 10 minutes, single use, 5 tries."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django.db import OperationalError
from django.utils import timezone

from requests_app.models import OutboxMessage, RequestStatus, StatusToken, VerificationCode
from requests_app.services.tokens import status_token_exchange
from requests_app.services.verification import (
    SEND_LEASE_SECONDS,
    CodeResult,
    SendInProgress,
    VerificationFailed,
    _retry_while_database_restarts,
    confirmation_send,
    verification_check,
    verification_request_new,
    verification_send,
)
from retention.keyring import hmac_keys
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
    kid, _, digest = row.code_hmac.partition("$")
    assert code not in row.code_hmac and len(digest) == 64
    assert kid == hmac_keys("token")[0].kid  # the stored hash names the key that made it
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


def test_a_message_whose_code_is_being_sent_by_another_run_waits(filed):
    """Issue 14: "every verification e-mail went out exactly once". A redelivery that
    meets a code committed but not yet recorded as sent (the first run is between its
    commit and its send) sends nothing and asks to be retried."""
    row = VerificationCode.objects.get(request=filed)
    VerificationCode.objects.filter(pk=row.pk).update(sent_at=None)
    with pytest.raises(SendInProgress):
        verification_send(request_id=filed.pk, outbox_message_id=row.outbox_message_id)
    assert len(mail.outbox) == 1


def test_a_run_that_died_before_recording_the_send_is_replaced_by_a_fresh_code(filed):
    """The run that made the code died before it recorded the send (its worker was
    killed): after the lease the redelivery sends a new code on the same row, so the
    person is never left without one, and the old code no longer works."""
    old = last_code()
    row = VerificationCode.objects.get(request=filed)
    VerificationCode.objects.filter(pk=row.pk).update(sent_at=None)
    later = dt.timedelta(seconds=SEND_LEASE_SECONDS + 1)
    with time_machine.travel(timezone.now() + later, tick=False):
        assert verification_send(request_id=filed.pk, outbox_message_id=row.outbox_message_id)
    assert len(mail.outbox) == 2
    assert VerificationCode.objects.filter(request=filed).count() == 1
    assert VerificationCode.objects.get(request=filed).sent_at is not None
    new = last_code()
    if old != new:  # one time in a million they are equal
        with pytest.raises(VerificationFailed):
            verification_check(request=filed, code=old)
    assert verification_check(request=filed, code=new).status == RequestStatus.NEW


def test_a_failed_send_leaves_no_code_behind(org, deliver, settings):
    """The mail server refuses the connection: the task fails (and is retried), and no
    unsent code is left to hold up the retry."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    request = submit(org)
    with pytest.raises(OSError):
        verification_send(request_id=request.pk, outbox_message_id=None)
    assert not VerificationCode.objects.filter(request=request).exists()


def test_recording_the_send_is_retried_while_the_database_restarts():
    """Step 3 runs again after a dropped connection instead of failing the task (whose
    retry would e-mail a second code)."""
    calls = []

    def record():
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("server closed the connection unexpectedly")

    _retry_while_database_restarts(record)
    assert len(calls) == 3


@pytest.fixture
def confirmed(filed, deliver):
    """A verified request whose confirmation (with its status link) has been e-mailed."""
    with deliver():
        verification_check(request=filed, code=last_code())
    return filed


def _link_token(message) -> str:
    return re.search(r"/open/\?t=([\w-]+)", message.body)[1]


def test_a_redelivered_confirmation_sends_no_second_link(confirmed):
    """Issue 14: nothing is done twice. The confirmation's message is redelivered (its
    first run sent the link and finished): no second e-mail, no second token."""
    row = StatusToken.objects.get(request=confirmed, kind=StatusToken.Kind.LINK)
    sent = len(mail.outbox)
    assert (
        confirmation_send(request_id=confirmed.pk, outbox_message_id=row.outbox_message_id) is False
    )
    assert len(mail.outbox) == sent
    assert StatusToken.objects.filter(request=confirmed, kind=StatusToken.Kind.LINK).count() == 1


def test_a_confirmation_being_sent_by_another_run_waits(confirmed):
    """The link's token is committed but its send not yet recorded (another run is
    between its commit and its send): the redelivery sends nothing and is retried."""
    row = StatusToken.objects.get(request=confirmed, kind=StatusToken.Kind.LINK)
    OutboxMessage.objects.filter(pk=row.outbox_message_id).update(completed_at=None)
    sent = len(mail.outbox)
    with pytest.raises(SendInProgress):
        confirmation_send(request_id=confirmed.pk, outbox_message_id=row.outbox_message_id)
    assert len(mail.outbox) == sent


def test_a_confirmation_whose_run_died_gets_a_fresh_link_on_the_same_token(confirmed):
    """The run died after committing the token and before recording the send: after the
    lease one new link goes out, the old link no longer opens anything, the new one does."""
    old = _link_token(mail.outbox[-1])
    row = StatusToken.objects.get(request=confirmed, kind=StatusToken.Kind.LINK)
    OutboxMessage.objects.filter(pk=row.outbox_message_id).update(completed_at=None)
    later = dt.timedelta(seconds=SEND_LEASE_SECONDS + 1)
    with time_machine.travel(timezone.now() + later, tick=False):
        assert confirmation_send(request_id=confirmed.pk, outbox_message_id=row.outbox_message_id)
    assert StatusToken.objects.filter(request=confirmed, kind=StatusToken.Kind.LINK).count() == 1
    assert OutboxMessage.objects.get(pk=row.outbox_message_id).completed_at is not None
    new = _link_token(mail.outbox[-1])
    assert new != old
    assert not status_token_exchange(request=confirmed, token=old)
    assert status_token_exchange(request=confirmed, token=new)


def test_a_confirmation_whose_link_was_opened_is_not_sent_again(confirmed):
    """The run died after the send but before recording it, and the person has already
    opened the link: the e-mail evidently arrived, so the redelivery sends nothing."""
    token = _link_token(mail.outbox[-1])
    assert status_token_exchange(request=confirmed, token=token)
    row = StatusToken.objects.get(request=confirmed, kind=StatusToken.Kind.LINK)
    OutboxMessage.objects.filter(pk=row.outbox_message_id).update(completed_at=None)
    sent = len(mail.outbox)
    later = dt.timedelta(seconds=SEND_LEASE_SECONDS + 1)
    with time_machine.travel(timezone.now() + later, tick=False):
        assert not confirmation_send(
            request_id=confirmed.pk, outbox_message_id=row.outbox_message_id
        )
    assert len(mail.outbox) == sent
    assert OutboxMessage.objects.get(pk=row.outbox_message_id).completed_at is not None


def test_a_failed_confirmation_send_leaves_no_link_behind(confirmed, settings):
    """The mail server refuses the connection: the task fails (and is retried), and no
    unsent link token is left."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    before = StatusToken.objects.filter(request=confirmed).count()
    with pytest.raises(OSError):
        confirmation_send(request_id=confirmed.pk, outbox_message_id=None)
    assert StatusToken.objects.filter(request=confirmed).count() == before


def test_the_code_mail_is_in_the_requests_language(org, deliver):
    with deliver():
        submit(org, language="en", email="en@example.org")
    message = mail.outbox[-1]
    assert message.subject.endswith("is your code for your request to Testbolaget")
    assert "The code is valid for 10 minutes" in message.body
    html = message.alternatives[0][0]
    assert '<html lang="en">' in html and last_code() in html
