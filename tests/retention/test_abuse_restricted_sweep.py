"""Attack: let the nightly sweep destroy data a person has had restricted (issue 12, section 3).

Art. 18(1)(c): "the controller no longer needs the personal data for the purposes of the
processing, but they are required by the data subject for the establishment, exercise or
defence of legal claims" - the person asks us to keep it, restricted. Its expiry date passing
must not delete it. When the restriction is lifted (Art. 18(3): the person is told first), the
expiry applies again, and a date already passed is handled by the next sweep.
"""

import datetime as dt

import pytest

from retention.models import Record, RetentionRule
from retention.services.rights import processing_stop, restriction_apply, restriction_lift
from tests.retention.test_sweeps import make_record, sweep

EVENT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # an IP address: expires three weeks later
NIGHT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def expired_ip_address(org) -> Record:
    rule = RetentionRule.objects.get(organisation=org, key="ip_addresses")
    record = make_record(rule, EVENT)
    assert record.expires_at < NIGHT
    return record


@pytest.mark.parametrize("ground", ["c", "a", "b", "d"])
def test_a_sweep_leaves_an_art18_restricted_record_until_the_restriction_is_lifted(
    organisations, ground
):
    """Art. 18(1)(c) and the other grounds: restricted, past its expiry, it survives the
    sweep; lifted, the next sweep deletes it."""
    org = organisations["framsteget"]
    record = expired_ip_address(org)
    bystander = expired_ip_address(org)
    restriction_apply(
        organisation=org,
        subject_ids=[record.subject_id],
        ground=f"art18_{ground}",
        reference="REQ-18",
    )

    run = sweep(org, NIGHT)
    assert Record.objects.filter(pk=record.pk).exists()
    assert not Record.objects.filter(pk=bystander.pk).exists()
    assert run.rule_counts["ip_addresses"]["deleted"] == 1
    record.refresh_from_db()
    assert record.expires_at is not None  # it keeps its expiry

    restriction_lift(organisation=org, subject_ids=[record.subject_id], reference="REQ-18")
    sweep(org, NIGHT + dt.timedelta(days=1))
    assert not Record.objects.filter(pk=record.pk).exists()


def test_a_record_two_requests_restricted_waits_for_both(organisations):
    org = organisations["framsteget"]
    record = expired_ip_address(org)
    for reference in ("REQ-1", "REQ-2"):
        restriction_apply(
            organisation=org, subject_ids=[record.subject_id], ground="art18_c", reference=reference
        )
    restriction_lift(organisation=org, subject_ids=[record.subject_id], reference="REQ-1")
    sweep(org, NIGHT)
    assert Record.objects.filter(pk=record.pk).exists()
    restriction_lift(organisation=org, subject_ids=[record.subject_id], reference="REQ-2")
    sweep(org, NIGHT + dt.timedelta(days=1))
    assert not Record.objects.filter(pk=record.pk).exists()


def test_a_record_restricted_by_an_objection_is_still_swept_at_its_expiry(organisations):
    """An objection stopped the processing; it is no reason to store the data longer."""
    org = organisations["framsteget"]
    record = expired_ip_address(org)
    processing_stop(
        organisation=org,
        subject_ids=[record.subject_id],
        purpose_keys=[record.purpose.key],
        reason="objection",
    )
    record.refresh_from_db()
    assert record.restricted_at is not None and record.restriction_ground == "art21_objection"
    sweep(org, NIGHT)
    assert not Record.objects.filter(pk=record.pk).exists()


def test_a_record_kept_by_an_erasure_exception_is_still_swept_at_its_expiry(organisations):
    """An erasure exception keeps data only as long as the law that required it: its expiry
    is that law's end."""
    org = organisations["framsteget"]
    record = expired_ip_address(org)
    Record.objects.filter(pk=record.pk).update(
        restricted_at=EVENT, restriction_ground="erasure_exception"
    )
    sweep(org, NIGHT)
    assert not Record.objects.filter(pk=record.pk).exists()
