"""Attacks on identity: a stranger files a request with their own e-mail address and the
victim's personnummer (anyone in Sweden can look one up) or customer number.

Issue 12 §1: "Identity is proven for each matched data subject, not for the request as a
whole. A subject is proven when the verified e-mail address matched it, or when staff
recorded an identity check for that subject." "Unproven subjects are never used. No
fulfilment of any kind, no package, no reply may include or change a subject whose identity
is not proven." "Approval refuses an unproven match." "Automatic release ... applies only
when every included subject was proven by the verified e-mail." "No oracle: nothing the
requester sees (status page, API, e-mails, reply) reveals whether a typed personnummer or
customer number exists." (GDPR Art. 12(6), Art. 5(1)(f).)

Every attack runs through every request type and every path: the staff page, the staff
API and the service, and automatic release.
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import translation

from requests_app.models import (
    DataPackage,
    Fulfilment,
    MatchMethod,
    OrganisationSettings,
    RequestEvent,
    RequestStatus,
    RequestSubjectMatch,
    SubjectRequest,
)
from requests_app.services import fulfilment as ff
from requests_app.services import packages
from requests_app.services import staff as svc
from requests_app.services.staff_auth import api_token_issue
from retention.demo import demo_seed
from retention.models import (
    AuditEntry,
    DataSubject,
    ProcessingStop,
    Record,
    SubjectIdentifier,
)
from retention.services.rights import is_suppressed
from tests.requests_app.conftest import last_code
from tests.requests_app.helpers import (
    current_code,
    customer,
    make_request,
    package_bytes,
    package_json,
    signed_in,
    staff_user,
)

VICTIM_EMAIL = "victim@example.org"
VICTIM_PHONE = "+46701740605"  # `customer` gives every subject this phone number
VICTIM_PNR = "198112189876"
VICTIM_CNR = "K-100"
UNKNOWN_PNR = "199001012385"  # valid check digit, nobody's
ATTACKER = "mallory@example.org"

# label: (request type, what the attacker asks for, as the public API takes it)
ATTACKS = {
    "access": ("access", {"format": "json"}),
    "portability": ("portability", {"format": "json"}),
    "erasure": ("erasure", {"scope": "all"}),
    "restriction": ("restriction", {"ground": "a", "scope": "all"}),
    "rectification": (
        "rectification",
        {"corrections": [{"wrong": "The name on file", "correct": "Mallory Malice"}]},
    ),
    "objection": ("objection", {"purposes": ["analytics"], "grounds": "I object."}),
    "consent_withdrawal": ("consent_withdrawal", {"purposes": ["newsletter"]}),
    "direct_marketing": ("objection", {"direct_marketing": True}),
}
IDENTIFIERS = {"personnummer": VICTIM_PNR, "customer_number": VICTIM_CNR}


@pytest.fixture
def victim(org):
    """A Testbolaget customer with data for every purpose (`customer`), and identifiers a
    stranger can find: a personnummer and a customer number."""
    subject = customer(org, name="victim", email=VICTIM_EMAIL)
    SubjectIdentifier.objects.create(
        organisation=org, subject=subject, kind="personnummer", value=VICTIM_PNR
    )
    SubjectIdentifier.objects.create(
        organisation=org, subject=subject, kind="customer_number", value=VICTIM_CNR
    )
    return subject


def victim_state(victim) -> dict:
    """Everything a request could change about the victim."""
    org = victim.organisation
    return {
        "records": sorted(
            Record.objects.filter(subject=victim).values_list(
                "external_id", "data", "restricted_at", "restriction_ground"
            )
        ),
        "identifiers": sorted(victim.identifiers.values_list("kind", "value")),
        "statement": DataSubject.objects.get(pk=victim.pk).supplementary_statement,
        "stops": sorted(
            ProcessingStop.objects.filter(subject=victim).values_list("purpose__key", flat=True)
        ),
        "suppressed": is_suppressed(organisation=org, email=VICTIM_EMAIL, phone=VICTIM_PHONE),
    }


def post_json(client, url, data=None, **headers):
    return client.post(url, data or {}, content_type="application/json", **headers)


def attack(deliver, label: str, **identifier) -> SubjectRequest:
    """The attacker files the request over the public API and proves their own address."""
    kind, details = ATTACKS[label]
    person = Client()
    body = {
        "organisation": "testorg",
        "type": kind,
        "email": ATTACKER,
        "full_name": "Mallory Malice",
        "language": "en",
        **identifier,
        **details,
    }
    with deliver():
        created = post_json(person, "/api/v1/requests", body)
    assert created.status_code == 201, created.json()
    reference = created.json()["reference"]
    with deliver():
        verified = post_json(
            person, f"/api/v1/requests/{reference}/verify", {"code": last_code(ATTACKER)}
        )
    assert verified.status_code == 200, verified.json()
    return SubjectRequest.objects.select_related("organisation").get(reference=reference)


def staff_api(user) -> Client:
    raw, _token = api_token_issue(user=user, name="test")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def victim_match(api: Client, request: SubjectRequest, victim) -> dict:
    detail = api.get(f"/api/v1/staff/requests/{request.reference}")
    assert detail.status_code == 200
    [match] = [m for m in detail.json()["matches"] if m["subject_id"] == victim.pk]
    return match


def carry_out(deliver, request: SubjectRequest, staff, *, accept_into=None) -> SubjectRequest:
    """Staff do what the request type needs, approve over the API, and the workers carry it
    out: corrections decided (into `accept_into`, a record of a proven subject, or rejected),
    the erasure plan approved, the package released."""
    base = f"/api/v1/staff/requests/{request.reference}"
    handler, approver = staff_api(staff["handler"]), staff_api(staff["approver"])
    if request.kind == "rectification":
        decision = {"index": 0, "decision": "reject", "reason": "Not yours to change."}
        if accept_into is not None:
            decision = {"index": 0, "decision": "accept", "target": f"{accept_into.pk}:name"}
        response = post_json(handler, f"{base}/corrections/decide", decision)
        assert response.status_code == 200, response.json()
    with deliver():
        response = post_json(approver, f"{base}/approve", {"code": current_code(staff["approver"])})
    assert response.status_code == 200, response.json()
    if request.kind == "erasure":
        with deliver():
            ff.erasure_plan_approve(request=request, actor=staff["approver"])
    if request.kind in ("access", "portability"):
        package = DataPackage.objects.get(request=request)
        assert package.state == DataPackage.State.READY
        with deliver():
            packages.package_release(package=package, actor=staff["approver"])
    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED
    return request


@pytest.mark.parametrize("identifier", list(IDENTIFIERS))
@pytest.mark.parametrize("label", list(ATTACKS))
def test_it_refuses_approval_on_every_path_while_the_victims_match_is_unproven(
    org, victim, staff, staff_client, deliver, label, identifier
):
    before = victim_state(victim)
    request = attack(deliver, label, **{identifier: IDENTIFIERS[identifier]})
    assert request.status == RequestStatus.NEW  # the staff part waits, for every type

    with translation.override("en"), pytest.raises(svc.StaffActionError) as refused:
        svc.request_approve(request=request, actor=staff["approver"])
    assert refused.value.code == "identity_unproven"
    assert str(victim.pk) in refused.value.message
    assert "identity check" in refused.value.message and "exclude" in refused.value.message

    page = staff_client(staff["approver"]).post(
        reverse("staff:action", kwargs={"reference": request.reference, "name": "approve"}),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert page.status_code == 409
    assert "Record an identity check for that subject" in page.content.decode()

    with deliver():
        api = post_json(
            staff_api(staff["approver"]),
            f"/api/v1/staff/requests/{request.reference}/approve",
            {"code": current_code(staff["approver"])},
            HTTP_ACCEPT_LANGUAGE="en",
        )
    assert api.status_code == 409
    assert api.json()["error"]["code"] == "identity_unproven"
    assert "Identity could not be confirmed" in api.json()["error"]["message"]

    request.refresh_from_db()
    assert request.status == RequestStatus.NEW
    assert not DataPackage.objects.filter(request=request).exists()
    assert victim_state(victim) == before


@pytest.mark.parametrize("identifier", list(IDENTIFIERS))
@pytest.mark.parametrize("label", list(ATTACKS))
def test_once_the_victim_is_excluded_nothing_of_theirs_is_included_or_changed(
    org, victim, staff, deliver, label, identifier
):
    before = victim_state(victim)
    request = attack(deliver, label, **{identifier: IDENTIFIERS[identifier]})
    handler = staff_api(staff["handler"])
    match = victim_match(handler, request, victim)
    assert (match["proven"], match["included"], match["proven_by"]) == (False, True, "none")
    assert match["methods"] == [identifier]

    if request.kind == "rectification":
        # The victim's records are no target for a correction, even before the exclusion.
        target = Record.objects.filter(subject=victim).first()
        response = post_json(
            handler,
            f"/api/v1/staff/requests/{request.reference}/corrections/decide",
            {"index": 0, "decision": "accept", "target": f"{target.pk}:name"},
        )
        assert response.status_code == 400
    response = post_json(
        handler, f"/api/v1/staff/requests/{request.reference}/matches/{match['id']}/exclude"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["included"] is False

    request = carry_out(deliver, request, staff)

    assert victim_state(victim) == before
    reply = request.resolution.text
    assert VICTIM_EMAIL not in reply and "Anna Andersson" not in reply
    for message in mail.outbox:
        assert VICTIM_EMAIL not in message.body or message.to == [VICTIM_EMAIL]
    fulfilment = Fulfilment.objects.filter(request=request).first()
    if request.kind == "erasure":
        assert fulfilment.job.subject_ids == []
        assert fulfilment.job.plan == []
    if request.kind in ("access", "portability"):
        package = DataPackage.objects.get(request=request)
        assert package.contents["records"] == 0
        assert VICTIM_EMAIL.encode() not in package_bytes(package)
    assert AuditEntry.objects.filter(
        action="requests.match.excluded", data__subject_id=victim.pk
    ).exists()


@pytest.mark.parametrize("label", list(ATTACKS))
def test_after_a_staff_identity_check_for_the_victims_match_the_request_acts_on_them(
    org, victim, staff, deliver, label
):
    """The same request, from the real person: staff confirmed their identity (BankID)."""
    before = victim_state(victim)
    request = attack(deliver, label, personnummer=VICTIM_PNR)
    handler = staff_api(staff["handler"])
    match = victim_match(handler, request, victim)
    response = post_json(
        handler,
        f"/api/v1/staff/requests/{request.reference}/identity",
        {"match": match["id"], "method": "bankid", "note": "BankID signature checked"},
    )
    assert response.status_code == 200, response.json()
    match = victim_match(handler, request, victim)
    assert (match["proven"], match["proven_by"]) == (True, "identity_check")
    assert match["identity_check"]["method"] == "bankid"

    name_record = Record.objects.get(subject=victim, external_id="victim-name-1")
    request = carry_out(deliver, request, staff, accept_into=name_record)

    if request.kind in ("access", "portability"):
        package = DataPackage.objects.get(request=request)
        assert package.contents["records"] > 0
        assert package.state == DataPackage.State.RELEASED
    else:
        assert victim_state(victim) != before


def test_an_identity_check_without_a_match_of_the_request_proves_nobody(
    org, victim, staff, deliver
):
    request = attack(deliver, "erasure", personnummer=VICTIM_PNR)
    other = attack(deliver, "access", customer_number=VICTIM_CNR)
    others_match = RequestSubjectMatch.objects.get(request=other)
    handler = staff_api(staff["handler"])
    for body in ({"method": "bankid"}, {"method": "bankid", "match": others_match.pk}):
        response = post_json(handler, f"/api/v1/staff/requests/{request.reference}/identity", body)
        assert response.status_code == 400
        assert "match" in response.json()["error"]["fields"]
    with pytest.raises(svc.StaffActionError):
        svc.request_approve(request=request, actor=staff["approver"])


def test_staff_decide_per_match_on_the_request_page(org, victim, staff, staff_client, deliver):
    request = attack(deliver, "erasure", personnummer=VICTIM_PNR)
    match = RequestSubjectMatch.objects.get(request=request)
    client = signed_in(Client(HTTP_ACCEPT_LANGUAGE="en"), staff["handler"])
    detail = reverse("staff:detail", kwargs={"reference": request.reference})

    page = client.get(detail).content.decode()
    assert "not proven" in page and "Approval waits" in page
    assert f"Record an identity check for subject {victim.pk}" in page
    assert f'href="?match={match.pk}#action-identity"' in page

    url = reverse(
        "staff:match",
        kwargs={"reference": request.reference, "match_id": match.pk, "action": "exclude"},
    )
    assert client.post(url).status_code == 302
    match.refresh_from_db()
    assert match.included is False
    assert "Approval waits" not in client.get(detail).content.decode()
    url = url.replace("/exclude/", "/include/")
    assert client.post(url).status_code == 302
    match.refresh_from_db()
    assert match.included is True

    # The check link preselects the match in the identity form; the check proves it.
    form = client.get(detail, {"match": match.pk}).content.decode()
    assert re.search(rf'<option value="{match.pk}" selected>', form)
    response = client.post(
        reverse("staff:action", kwargs={"reference": request.reference, "name": "identity"}),
        {"match": match.pk, "method": "id_document", "note": "Passport seen at the desk"},
    )
    assert response.status_code == 302
    match.refresh_from_db()
    assert match.proven_by == "identity_check"
    approver = staff_client(staff["approver"])
    response = approver.post(
        reverse("staff:action", kwargs={"reference": request.reference, "name": "approve"})
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED


def test_another_organisations_match_or_a_low_role_gets_nothing(
    org, other_org, victim, staff, outsider, staff_client, deliver
):
    request = attack(deliver, "erasure", personnummer=VICTIM_PNR)
    match = RequestSubjectMatch.objects.get(request=request)
    base = f"/api/v1/staff/requests/{request.reference}/matches/{match.pk}"
    assert post_json(staff_api(outsider), f"{base}/exclude").status_code == 404
    assert post_json(staff_api(staff["viewer"]), f"{base}/exclude").status_code == 403
    page = reverse(
        "staff:match",
        kwargs={"reference": request.reference, "match_id": match.pk, "action": "exclude"},
    )
    assert staff_client(outsider).post(page).status_code == 404
    assert staff_client(staff["viewer"]).post(page).status_code == 403
    # A match of another request of the same organisation: 404 too.
    second = attack(deliver, "access", customer_number=VICTIM_CNR)
    other_base = f"/api/v1/staff/requests/{second.reference}/matches/{match.pk}"
    assert post_json(staff_api(staff["handler"]), f"{other_base}/exclude").status_code == 404
    match.refresh_from_db()
    assert match.included is True
    # Once approved, the matches are settled.
    post_json(staff_api(staff["handler"]), f"{base}/exclude")
    svc.request_approve(request=request, actor=staff["approver"])
    response = post_json(staff_api(staff["handler"]), f"{base}/include")
    assert response.status_code == 409


# --- Automatic release ------------------------------------------------------------------------


@pytest.fixture
def auto_release(org):
    OrganisationSettings.objects.create(organisation=org, auto_release_packages=True)


def test_automatic_release_never_sends_a_stranger_the_victims_data(
    org, victim, staff, deliver, auto_release
):
    request = attack(deliver, "access", personnummer=VICTIM_PNR)
    with pytest.raises(svc.StaffActionError):
        svc.request_approve(request=request, actor=staff["approver"])
    svc.match_exclude(
        request=request,
        actor=staff["handler"],
        match_id=RequestSubjectMatch.objects.get(request=request).pk,
    )
    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])
    package = DataPackage.objects.get(request=request)
    assert package.state == DataPackage.State.RELEASED  # only the e-mail's subjects: none
    assert package.contents["records"] == 0
    assert VICTIM_EMAIL not in str(package_json(package))


def test_a_subject_proven_by_a_staff_check_is_not_released_automatically(
    org, victim, staff, deliver, auto_release
):
    request = attack(deliver, "access", personnummer=VICTIM_PNR)
    svc.request_identity_confirm(
        request=request,
        actor=staff["handler"],
        method="bankid",
        match_id=RequestSubjectMatch.objects.get(request=request).pk,
    )
    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])
    package = DataPackage.objects.get(request=request)
    assert package.state == DataPackage.State.READY  # an approver looks first
    assert package.contents["records"] == 5
    request.refresh_from_db()
    assert request.status == RequestStatus.FULFILLING


def test_the_verified_email_alone_still_releases_automatically(org, staff, deliver, auto_release):
    own = customer(org, name="mallory", email=ATTACKER)
    request = attack(deliver, "access")
    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])
    package = DataPackage.objects.get(request=request)
    assert package.state == DataPackage.State.RELEASED
    assert package.contents["records"] == Record.objects.filter(subject=own).count()


@pytest.mark.parametrize("label", ["access", "erasure", "restriction", "consent_withdrawal"])
def test_a_request_approved_before_the_fix_acts_on_no_unproven_subject(
    org, victim, staff, deliver, auto_release, label
):
    """A request approved under the old rules, its unproven match still in place (legacy)."""
    before = victim_state(victim)
    kind, details = ATTACKS[label]
    request = make_request(org, kind=kind, email=ATTACKER, status=RequestStatus.APPROVED)
    request.details = details
    request.save(update_fields=["details"])
    RequestSubjectMatch.objects.create(
        request=request, subject=victim, method=MatchMethod.PERSONNUMMER
    )
    with deliver():
        ff.fulfilment_start(request_id=request.pk)
    if kind == "access":
        package = DataPackage.objects.get(request=request)
        assert package.contents["records"] == 0
        assert package.state == DataPackage.State.READY  # not released without a look
    if kind == "erasure":
        assert Fulfilment.objects.get(request=request).job.plan == []
    assert victim_state(victim) == before


# --- The demo victim, as the issue's attacker did it ---------------------------------------------


def test_the_coachen_demo_clients_health_data_never_reaches_a_stranger(
    organisations, deliver, settings, tmp_path
):
    """The attack of the report: /coachen/, own e-mail, the demo client's personnummer."""
    settings.PACKAGE_DIR = tmp_path / "packages"
    demo_seed(subjects=0)
    coachen = organisations["coachen"]
    erik = DataSubject.objects.get(organisation=coachen, external_id="demo-coachen-erik-lindqvist")
    personnummer = erik.identifiers.get(kind="personnummer").value
    approver = staff_user("approver-co", [(coachen, "approver")])
    person = Client()
    with deliver():
        reference = post_json(
            person,
            "/api/v1/requests",
            {
                "organisation": "coachen",
                "type": "access",
                "email": ATTACKER,
                "full_name": "Mallory Malice",
                "language": "sv",
                "personnummer": personnummer,
                "format": "json",
            },
        ).json()["reference"]
    with deliver():
        post_json(person, f"/api/v1/requests/{reference}/verify", {"code": last_code(ATTACKER)})
    request = SubjectRequest.objects.get(reference=reference)
    with pytest.raises(svc.StaffActionError) as refused:
        svc.request_approve(request=request, actor=approver)
    assert refused.value.code == "identity_unproven"
    assert not DataPackage.objects.filter(request=request).exists()


# --- No oracle ------------------------------------------------------------------------------------


def _normalised(text: str, request: SubjectRequest) -> str:
    text = text.replace(request.reference, "REF").replace(request.email, "EMAIL")
    text = re.sub(r"\b\d{6}\b", "CODE", text)
    text = re.sub(r"([?&]t=)[A-Za-z0-9_\-]+", r"\1TOKEN", text)
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "CSRF", text)
    # A package's size and hash follow its reference and address (compressed, encrypted).
    text = re.sub(r'"(size|sha256)":("[0-9a-f]+"|\d+)', r'"\1":"X"', text)
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "UUID", text)


def _what_the_requester_sees(
    deliver, staff, label: str, personnummer: str, email: str, *, staff_handle: bool = True
) -> dict:
    """File, verify, look, let staff handle it, look again: everything the person can see."""
    kind, details = ATTACKS[label]
    person = Client()
    mail.outbox.clear()
    body = {
        "organisation": "testorg",
        "type": kind,
        "email": email,
        "full_name": "Mallory Malice",
        "language": "en",
        "personnummer": personnummer,
        **details,
    }
    with deliver():
        reference = post_json(person, "/api/v1/requests", body).json()["reference"]
    with deliver():
        token = post_json(
            person, f"/api/v1/requests/{reference}/verify", {"code": last_code(email)}
        ).json()["token"]
    request = SubjectRequest.objects.get(reference=reference)
    [link] = [
        urlsplit(found.group(0))
        for m in mail.outbox
        if (found := re.search(r"https?://\S+/open/\?t=\S+", m.body))
    ]
    assert person.get(f"{link.path}?{link.query}").status_code in (200, 302)
    status_url = reverse(
        "requests_public:status", kwargs={"org_slug": "testorg", "reference": reference}
    )

    def look() -> tuple[str, str]:
        html = person.get(status_url).content.decode()
        api = person.get(f"/api/v1/requests/{reference}", HTTP_AUTHORIZATION=f"Bearer {token}")
        return _normalised(html, request), _normalised(api.content.decode(), request)

    seen = {"after_verification": look()}
    request.refresh_from_db()
    if not staff_handle:
        seen["statuses"] = list(
            RequestEvent.objects.filter(request=request).values_list("kind", "data")
        )
        seen["mails"] = [
            (_normalised(m.subject, request), _normalised(m.body, request)) for m in mail.outbox
        ]
        return seen
    if request.status == RequestStatus.NEW:
        # Staff: exclude whatever the typed number matched, decide, approve, carry out.
        for match in RequestSubjectMatch.objects.filter(request=request, proven_by="none"):
            svc.match_exclude(request=request, actor=staff["handler"], match_id=match.pk)
        if kind == "rectification":
            ff.correction_decide(
                request=request, actor=staff["handler"], index=0, accepted=False, reason="No."
            )
        with deliver():
            svc.request_approve(request=request, actor=staff["approver"])
        if kind == "erasure":
            with deliver():
                ff.erasure_plan_approve(request=request, actor=staff["approver"])
        if kind in ("access", "portability"):
            with deliver():
                packages.package_release(
                    package=DataPackage.objects.get(request=request), actor=staff["approver"]
                )
    request.refresh_from_db()
    seen["after_fulfilment"] = look()
    seen["statuses"] = list(
        RequestEvent.objects.filter(request=request).values_list("kind", "data")
    )
    seen["reply"] = _normalised(request.resolution.text, request)
    seen["mails"] = [
        (_normalised(m.subject, request), _normalised(m.body, request)) for m in mail.outbox
    ]
    return seen


@pytest.mark.parametrize("label", list(ATTACKS))
def test_verification_answers_the_same_whether_a_typed_personnummer_exists_or_not(
    org, victim, staff, deliver, label
):
    """Right after verification (the marketing objection and the consent withdrawal are
    honoured then, without staff): status, status page, API, e-mails."""
    at = dt.datetime(2026, 5, 4, 10, 30, tzinfo=dt.UTC)
    seen = []
    for personnummer, email in ((VICTIM_PNR, "mallory1@example.org"), (UNKNOWN_PNR, "m2@x.org")):
        with time_machine.travel(at, tick=False):
            seen.append(
                _what_the_requester_sees(
                    deliver, staff, label, personnummer, email, staff_handle=False
                )
            )
    existing, unknown = seen
    assert existing["statuses"] == unknown["statuses"]
    assert existing["after_verification"] == unknown["after_verification"]
    assert existing["mails"] == unknown["mails"]


@pytest.mark.parametrize("label", list(ATTACKS))
def test_nothing_the_requester_sees_tells_whether_a_typed_personnummer_exists(
    org, victim, staff, deliver, label
):
    at = dt.datetime(2026, 5, 4, 10, 30, tzinfo=dt.UTC)
    with time_machine.travel(at, tick=False):
        existing = _what_the_requester_sees(
            deliver, staff, label, VICTIM_PNR, "mallory1@example.org"
        )
    with time_machine.travel(at, tick=False):
        unknown = _what_the_requester_sees(
            deliver, staff, label, UNKNOWN_PNR, "mallory2@example.org"
        )
    assert existing["statuses"] == unknown["statuses"]
    assert existing["after_verification"] == unknown["after_verification"]
    assert existing["after_fulfilment"] == unknown["after_fulfilment"]
    assert existing["reply"] == unknown["reply"]
    assert existing["mails"] == unknown["mails"]
