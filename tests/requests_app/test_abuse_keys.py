"""Attacks on the keys: a rotated SECRET_KEY or a rotated hash key must not undo a right.

Issue 12 §5: the keyed hashes of erasure tombstones, the suppression list,
verification codes and e-mail links were derived from SECRET_KEY, so the routine
rotation after a leak let erased people be imported again and returned people who
objected to marketing to the marketing audience. Each test here sets production-like
keyrings (explicit keys, nothing derived), does the thing, rotates, and checks.
"""

from __future__ import annotations

import re
import secrets
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client, override_settings

from requests_app.models import StatusToken, VerificationCode
from requests_app.services.verification import verification_request_new
from retention.models import DataSubject, ErasureTombstone, Record, Suppression
from retention.services.rights import is_suppressed, marketing_objection
from tests.requests_app.conftest import last_code
from tests.requests_app.helpers import submit
from tests.retention import test_store_api
from tests.retention.test_erasure_tombstones import erase
from tests.retention.test_import_records import run_import, subject_line
from tests.retention.test_store_api import subject_body

store = test_store_api.store  # fixture: FRAMSTEGET's record-store API client
NEW_SECRET_KEY = "rotated-after-a-leak-" + secrets.token_urlsafe(48)


def key(kid: str) -> tuple[str, bytes]:
    return (kid, secrets.token_bytes(32))


@pytest.fixture
def keyrings(settings):
    """Production-like keyrings: one explicit key per purpose, none derived from SECRET_KEY."""
    rings = {purpose: [key("k1")] for purpose in ("tombstone", "suppression", "token")}
    settings.HMAC_KEYS = rings
    return rings


def rotate(settings, purpose: str) -> None:
    """Put a new key first and keep the old ones listed (the documented rotation)."""
    settings.HMAC_KEYS = {**settings.HMAC_KEYS, purpose: [key("k2"), *settings.HMAC_KEYS[purpose]]}


def audience(store, org) -> set[str]:
    purpose = org.purposes.filter(direct_marketing=True).first().key
    response = store.get(f"/api/v1/store/marketing-audience?purpose={purpose}")
    assert response.status_code == 200
    return {e for r in response.json()["results"] for e in r["email"]}


def suppressed_bea(store, org) -> None:
    for n, email in enumerate(["ada@example.se", "bea@example.se"]):
        store.post("/api/v1/store/subjects", subject_body(org, f"crm-{n}", email), format="json")
    bea = DataSubject.objects.get(organisation=org, external_id="crm-1")
    marketing_objection(organisation=org, subject_ids=[bea.pk])
    # The CRM imports her again under a new id.
    store.post(
        "/api/v1/store/subjects", subject_body(org, "crm-9", "Bea@Example.se"), format="json"
    )


# --- SECRET_KEY rotation ------------------------------------------------------------------


def test_an_erased_person_stays_erased_after_secret_key_rotation(keyrings, organisations):
    """Art. 17: erased data must not come back with the next import, whatever the operator
    does with SECRET_KEY."""
    org = organisations["framsteget"]
    run_import([subject_line(1)])
    erase(org, "cust-1")

    with override_settings(SECRET_KEY=NEW_SECRET_KEY):
        result = run_import([subject_line(1)])

    assert result.counts.records_skipped_erased == 2
    assert not Record.objects.filter(external_id="ip-1").exists()


def test_a_suppressed_person_stays_out_of_the_marketing_audience_after_secret_key_rotation(
    keyrings, organisations, store
):
    """Art. 21(3): after an objection the data 'shall no longer be processed' for direct
    marketing, also after a key rotation."""
    org = organisations["framsteget"]
    suppressed_bea(store, org)

    with override_settings(SECRET_KEY=NEW_SECRET_KEY):
        assert audience(store, org) == {"ada@example.se"}
        assert is_suppressed(organisation=org, email="bea@example.se")


def test_an_outstanding_code_and_link_still_work_after_secret_key_rotation(keyrings, org, deliver):
    with deliver():
        request = submit(org)
    code = last_code()

    with override_settings(SECRET_KEY=NEW_SECRET_KEY), deliver():
        response = Client().post(f"/testorg/requests/{request.reference}/verify/", {"code": code})
        assert response.status_code == 302
    link = re.search(r"/open/\?t=([\w-]+)", mail.outbox[-1].body)[1]
    with override_settings(SECRET_KEY=NEW_SECRET_KEY + "-again"):
        assert opens_the_status(request, link)


def opens_the_status(request, link: str) -> bool:
    """Whether the e-mail link opens the request's status page in a new browser."""
    person = Client()
    person.post(f"/testorg/requests/{request.reference}/open/", {"t": link})
    page = person.get(f"/testorg/requests/{request.reference}/")
    return "requests_app/public/status.html" in [t.name for t in page.templates]


def test_a_session_survives_secret_key_rotation_with_the_old_key_as_fallback(org, settings):
    client = Client()
    session = client.session
    session["marker"] = "kept"
    session.save()
    old = settings.SECRET_KEY
    with override_settings(SECRET_KEY=NEW_SECRET_KEY, SECRET_KEY_FALLBACKS=[old]):
        assert client.session.get("marker") == "kept"
    with override_settings(SECRET_KEY=NEW_SECRET_KEY, SECRET_KEY_FALLBACKS=[]):
        assert client.session.get("marker") is None  # sessions are short-lived: documented


# --- Rotating a purpose key -----------------------------------------------------------------


def test_rotating_the_tombstone_key_keeps_old_tombstones_and_signs_new_ones(
    keyrings, organisations, settings
):
    org = organisations["framsteget"]
    run_import([subject_line(1), subject_line(2)])
    erase(org, "cust-1")
    rotate(settings, "tombstone")

    assert run_import([subject_line(1)]).counts.records_skipped_erased == 2
    erase(org, "cust-2", reference="R-2")
    newest = ErasureTombstone.objects.get(reference="R-2")
    assert {h.split("$")[0] for h in newest.identifier_hashes} == {"k2"}
    assert run_import([subject_line(2)]).counts.records_skipped_erased == 2


def test_the_usage_report_says_which_tombstone_and_suppression_keys_must_stay_listed(
    keyrings, organisations, settings, store
):
    """Tombstones and suppressions cannot be hashed again (the identifiers are gone): a key
    that made one must stay listed. The report shows what dropping it would orphan."""
    org = organisations["framsteget"]
    run_import([subject_line(1)])
    erase(org, "cust-1")
    suppressed_bea(store, org)
    settings.HMAC_KEYS = {**settings.HMAC_KEYS, "tombstone": [key("k2")]}

    out = StringIO()
    call_command("hmac_key", "--usage", stdout=out)

    text = out.getvalue()
    assert "HMAC_KEYS_TOMBSTONE (listed: k2)" in text
    assert "k1: 1  NOT LISTED" in text
    assert "HMAC_KEYS_SUPPRESSION (listed: k1)" in text
    assert f"k1: {Suppression.objects.count()}\n" in text


def test_rotating_the_suppression_key_keeps_everyone_suppressed(
    keyrings, organisations, settings, store
):
    org = organisations["framsteget"]
    suppressed_bea(store, org)
    rotate(settings, "suppression")

    assert audience(store, org) == {"ada@example.se"}
    ada = DataSubject.objects.get(organisation=org, external_id="crm-0")
    marketing_objection(organisation=org, subject_ids=[ada.pk])
    assert audience(store, org) == set()
    assert Suppression.objects.filter(value_hash__startswith="k2$").exists()


def test_rotating_the_token_key_keeps_outstanding_codes_and_links_valid(
    keyrings, org, deliver, settings
):
    with deliver():
        request = submit(org)
    code = last_code()
    rotate(settings, "token")

    with deliver():
        response = Client().post(f"/testorg/requests/{request.reference}/verify/", {"code": code})
    assert response.status_code == 302
    link = re.search(r"/open/\?t=([\w-]+)", mail.outbox[-1].body)[1]
    assert StatusToken.objects.get(kind="link").token_hmac.startswith("k2$")
    assert opens_the_status(request, link)


def test_dropping_the_old_token_key_voids_what_it_signed(keyrings, org, deliver, settings):
    """Short-lived secrets may die with their key: the person asks for a new code or link."""
    with deliver():
        request = submit(org)
    code = last_code()
    assert VerificationCode.objects.get().code_hmac.startswith("k1$")
    with deliver():
        Client().post(f"/testorg/requests/{request.reference}/verify/", {"code": code})
    link = re.search(r"/open/\?t=([\w-]+)", mail.outbox[-1].body)[1]
    with deliver():
        verification_request_new(request=request)
    settings.HMAC_KEYS = {**settings.HMAC_KEYS, "token": [key("k2")]}

    response = Client().post(
        f"/testorg/requests/{request.reference}/verify/", {"code": last_code()}
    )

    assert response.status_code == 400
    assert not opens_the_status(request, link)
