"""The access matrix: every URL pattern, every method, requested by people who must get nothing.

For every URL pattern of the project (walked from the resolver, so a new view
cannot be forgotten) and every method that reads or changes an object (GET,
POST, PUT, PATCH, DELETE), three strangers ask for the victim's objects:

- anonymous: no session, no token;
- subject: a person whose session (and API bearer token) proves another
  request of the same organisation;
- outsider: an admin of another organisation, signed in with password and
  TOTP, holding that organisation's staff API token and record-store token.

Each answer must be one the pattern's row in `ACCESS` allows (404/403, a
redirect to sign-in, 401, or a page that shows nothing of the victim), must
not contain any of the victim's data (`MARKERS`), and when all is done the
victim's request, hold, tokens and memberships are unchanged.

A pattern missing from `ACCESS` fails `test_every_url_pattern_is_classified`:
add it with what a stranger must get.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from requests_app.models import (
    DataPackage,
    OrganisationSettings,
    StaffApiToken,
    StatusToken,
    SubjectRequest,
)
from requests_app.models.staff import SavedQueueFilter
from requests_app.public import views as public_views
from requests_app.services import staff as svc
from requests_app.services.staff_auth import api_token_issue
from requests_app.services.tokens import status_token_issue
from requests_app.staff.views import detail as staff_views
from requests_app.staff.views import fulfilment as fulfilment_views
from retention.models import LegalHold, StaffMembership
from retention.services.api_tokens import api_token_create
from retention.services.holds import hold_place
from tests.requests_app.conftest import (  # noqa: F401  (autouse)
    clean_redis,
    fast_password_hashing,
)
from tests.requests_app.helpers import make_request, make_subject_with_records, signed_in

METHODS = ["get", "post", "put", "patch", "delete"]  # Django's admin: GET and POST
LOGIN = "302 to /staff/login/"
ADMIN_LOGIN = "302 to /admin/login/"
ACTORS = ("anonymous", "subject", "outsider")


@dataclass(frozen=True)
class Expect:
    """What each stranger may get: status codes, LOGIN or ADMIN_LOGIN."""

    anonymous: frozenset
    subject: frozenset
    outsider: frozenset


def anyone(*answers) -> Expect:
    """The same for all three (public pages, and pages that show only a form)."""
    return Expect(frozenset(answers), frozenset(answers), frozenset(answers))


# A staff page about an object: strangers are sent to sign in; the outsider gets
# 404 (403 or 405 reveal nothing either).
STAFF_OBJECT = Expect(frozenset({LOGIN}), frozenset({LOGIN}), frozenset({403, 404, 405}))
# A staff page about the user's own things (queue, tokens): the outsider sees only theirs.
STAFF_OWN = Expect(frozenset({LOGIN}), frozenset({LOGIN}), frozenset({200, 302, 400, 405}))
STAFF_API_OBJECT = Expect(frozenset({401}), frozenset({401}), frozenset({403, 404, 405}))
STAFF_API_OWN = Expect(frozenset({401}), frozenset({401}), frozenset({200, 405}))
# The record-store API: the outsider's token reads and writes only its own organisation.
STORE_API = Expect(frozenset({401}), frozenset({401}), frozenset({200, 400, 404, 405}))
ADMIN = anyone(ADMIN_LOGIN)

ACCESS: dict[str, Expect] = {
    "": anyone(200, 302, 404, 405),  # the front door (FRONT_DOOR: list, redirect, 404)
    "healthz": anyone(200, 503, 405, 429),
    "healthz/live": anyone(200, 405),
    "healthz/ready": anyone(200, 503, 405),
    "api/schema/": anyone(200, 405),
    "api/docs/": anyone(200, 405),
    # Record-store API (organisation token).
    "api/v1/store/subjects": STORE_API,
    "api/v1/store/processing-check": STORE_API,
    "api/v1/store/marketing-audience": STORE_API,
    # Staff sign-in: no object.
    "staff/login/": anyone(200, 400, 405),
    "staff/login/code/": anyone(302, 405),
    "staff/login/enrol/": anyone(302, 405),
    "staff/logout/": anyone(302, 405),
    # Staff pages.
    "staff/": STAFF_OWN,
    # POST only (405 to any other method, before the sign-in check: it reveals nothing).
    "staff/filters/": Expect(
        frozenset({LOGIN, 405}), frozenset({LOGIN, 405}), frozenset({200, 302, 400, 405})
    ),
    "staff/filters/<int:filter_id>/": Expect(
        frozenset({LOGIN, 405}), frozenset({LOGIN, 405}), frozenset({403, 404, 405})
    ),
    "staff/filters/<int:filter_id>/delete/": Expect(
        frozenset({LOGIN, 405}), frozenset({LOGIN, 405}), frozenset({403, 404, 405})
    ),
    "staff/assign/": Expect(
        frozenset({LOGIN, 405}), frozenset({LOGIN, 405}), frozenset({200, 302, 400, 403, 404, 405})
    ),
    "staff/confirm/": STAFF_OWN,
    "staff/tokens/": STAFF_OWN,
    "staff/recovery-codes/": STAFF_OWN,
    "staff/settings/": STAFF_OWN,
    "staff/requests/<str:reference>/": STAFF_OBJECT,
    "staff/requests/<str:reference>/progress/": STAFF_OBJECT,
    "staff/requests/<str:reference>/subjects/<int:subject_id>/": STAFF_OBJECT,
    "staff/requests/<str:reference>/matches/<int:match_id>/<slug:action>/": STAFF_OBJECT,
    "staff/requests/<str:reference>/<slug:name>/": STAFF_OBJECT,
    "staff/requests/<str:reference>/fulfilment/<slug:name>/": STAFF_OBJECT,
    "staff/requests/<str:reference>/package/file/": STAFF_OBJECT,
    "staff/requests/<str:reference>/package/report/": STAFF_OBJECT,
    "staff/requests/<str:reference>/package/release/": STAFF_OBJECT,
    "staff/org/<slug:org_slug>/": STAFF_OBJECT,
    "staff/org/<slug:org_slug>/register.csv": STAFF_OBJECT,
    "staff/org/<slug:org_slug>/retention/": STAFF_OBJECT,
    "staff/org/<slug:org_slug>/retention/sweep/": STAFF_OBJECT,
    "staff/org/<slug:org_slug>/retention/sweeps/progress/": STAFF_OBJECT,
    "staff/org/<slug:org_slug>/holds/": STAFF_OBJECT,
    "staff/org/<slug:org_slug>/holds/<int:hold_id>/lift/": STAFF_OBJECT,
    "staff/org/<slug:org_slug>/audit/": STAFF_OBJECT,
    "staff/org/<slug:org_slug>/staff/": STAFF_OBJECT,
    # Staff API (personal staff token).
    "api/v1/staff/requests": STAFF_API_OWN,
    "api/v1/staff/requests/<str:reference>": STAFF_API_OBJECT,
    "api/v1/staff/requests/<str:reference>/assign": STAFF_API_OBJECT,
    "api/v1/staff/requests/<str:reference>/unassign": STAFF_API_OBJECT,
    "api/v1/staff/requests/<str:reference>/notes": STAFF_API_OBJECT,
    "api/v1/staff/requests/<str:reference>/ask": STAFF_API_OBJECT,
    "api/v1/staff/requests/<str:reference>/identity": STAFF_API_OBJECT,
    "api/v1/staff/requests/<str:reference>/matches/<int:match_id>/include": STAFF_API_OBJECT,
    "api/v1/staff/requests/<str:reference>/matches/<int:match_id>/exclude": STAFF_API_OBJECT,
    "api/v1/staff/requests/<str:reference>/extend": STAFF_API_OBJECT,
    "api/v1/staff/requests/<str:reference>/refuse": STAFF_API_OBJECT,
    "api/v1/staff/requests/<str:reference>/approve": STAFF_API_OBJECT,
    "api/v1/staff/requests/<str:reference>/complete": STAFF_API_OBJECT,
    "api/v1/staff/requests/<str:reference>/cancel": STAFF_API_OBJECT,
    "api/v1/staff/requests/<str:reference>/plan/approve": STAFF_API_OBJECT,
    "api/v1/staff/requests/<str:reference>/corrections/decide": STAFF_API_OBJECT,
    "api/v1/staff/requests/<str:reference>/objections/decide": STAFF_API_OBJECT,
    "api/v1/staff/requests/<str:reference>/restriction/lift": STAFF_API_OBJECT,
    "api/v1/staff/requests/<str:reference>/package/release": STAFF_API_OBJECT,
    "api/v1/staff/requests/<str:reference>/retry": STAFF_API_OBJECT,
    "api/v1/staff/organisations/<slug:org_slug>/auto-release": STAFF_API_OBJECT,
    # Public request API: the bearer token is bound to one request. Verify takes the
    # reference and a code; resend the reference and the request's e-mail address, and
    # answers alike whether that matched (it tells nothing about the request).
    "api/v1/requests": anyone(400, 405),
    "api/v1/requests/<str:reference>": anyone(401, 405),
    "api/v1/requests/<str:reference>/verify": anyone(400, 405),
    "api/v1/requests/<str:reference>/resend": anyone(202, 405),
    "api/v1/requests/<str:reference>/files/<uuid:package_id>": anyone(401, 405),
    "i18n/setlang/": anyone(200, 302),
    # Public pages. Status, verify and the e-mail link show a form (and the
    # reference the visitor already knows) until this session proved the address.
    "<slug:org_slug>/": anyone(200),
    "<slug:org_slug>/request/<str:kind>/": anyone(200, 400, 405),
    "<slug:org_slug>/requests/<str:reference>/": anyone(200, 302, 400, 405),
    "<slug:org_slug>/requests/<str:reference>/verify/": anyone(200, 400, 405),
    # Resend asks a session that did not file or prove the request for the address (400).
    "<slug:org_slug>/requests/<str:reference>/resend/": anyone(302, 400, 405),
    "<slug:org_slug>/requests/<str:reference>/open/": anyone(200, 302, 405),
    "<slug:org_slug>/requests/<str:reference>/reply/": anyone(302, 405),
    "<slug:org_slug>/requests/<str:reference>/download/<uuid:package_id>/": anyone(302, 405),
    # The JSON Schemas of the package files: public documentation.
    "schemas/<slug:name>.json": anyone(200, 404, 405),
    # Django's admin: only `is_staff` users (none of ours are) with a TOTP-verified session
    # get in; its sign-in only sends people to the staff sign-in (portal/admin.py).
    "admin/login/": anyone(302),
    "admin/logout/": anyone(200, 302, 405),
}
ADMIN_PREFIX = "admin/"  # every other admin pattern: ADMIN

# The victim's data: none of it may appear in a stranger's answer.
VICTIM_NAME = "Vera Victimsson"
VICTIM_EMAIL = "vera.victim@example.org"
MARKERS = [
    VICTIM_NAME,
    VICTIM_EMAIL,
    "Victim-extension-reason",
    "Victim-question-text",
    "Victim-note-text",
    "Victim-hold-reason",
]
# A body for every POST/PUT/PATCH: plausible field names, the attacker's own values.
BODY = {
    "answer": "Mallory answers",
    "assignee": "outsider",
    "body": "Mallory note",
    "categories": ["contact"],
    "code": "123456",
    "compelling": True,
    "decision": "reject",
    "email": "mallory@example.net",
    "enabled": True,
    "full_name": "Mallory Attacker",
    "index": 0,
    "language": "en",
    "match": 1,
    "method": "other",
    "months": "1",
    "name": "Mallory token",
    "next": "/",
    "note": "Mallory",
    "organisation": "testorg",
    "password": "not the password",
    "purpose": "newsletter",
    "question": "Mallory asks",
    "reason": "Mallory reason",
    "reasons": ["no_data"],
    "reply": "Mallory replies",
    "t": "not-a-token",
    "text": "Mallory text",
    "type": "access",
    "username": "admin",
}


# --- URL patterns -------------------------------------------------------------------------


def url_patterns(patterns=None, prefix: str = ""):
    """(route, pattern) for every endpoint, the route written as in the URLconf."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from url_patterns(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


def expectation(route: str) -> Expect | None:
    if route in ACCESS:
        return ACCESS[route]
    if route.startswith(ADMIN_PREFIX):
        return ADMIN
    return None


PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>|\(\?P<(?P<group>\w+)>[^()]*\)")


def concrete_paths(route: str, values: dict[str, list[str] | dict]) -> list[str]:
    """The route with each parameter replaced by the victim's value(s) (a dict: per route)."""
    values = {k: v.get(route) if isinstance(v, dict) else v for k, v in values.items()}
    names = [m.group("name") or m.group("group") for m in PARAM.finditer(route)]
    missing = [n for n in names if not values.get(n)]
    if missing:
        raise LookupError(
            f"URL pattern {route!r} takes {missing}: add the victim's value to `values` "
            "in tests/portal/test_access_matrix.py"
        )
    paths = [route]
    for name in dict.fromkeys(names):
        pattern = re.compile(rf"<(?:\w+:)?{name}>|\(\?P<{name}>[^()]*\)")
        paths = [pattern.sub(value, p) for p in paths for value in values[name]]
    return ["/" + p.replace("^", "").replace("$", "") for p in paths]


def test_every_url_pattern_is_classified():
    routes = {route for route, _pattern in url_patterns()}
    unclassified = sorted(r for r in routes if expectation(r) is None)
    assert not unclassified, (
        "These URL patterns are not in the access matrix. Add each to ACCESS in "
        "tests/portal/test_access_matrix.py with what an anonymous visitor, another "
        "request's person and another organisation's staff must get:\n  "
        + "\n  ".join(unclassified)
    )
    stale = sorted(set(ACCESS) - routes)
    assert not stale, f"ACCESS lists patterns that no longer exist: {stale}"


# --- The victim and the strangers ------------------------------------------------------------


@pytest.fixture
def victim(org, staff):
    """A request of Testbolaget with records, an extension, a note, an open question and a hold."""
    request = make_request(org, kind="erasure", full_name=VICTIM_NAME, email=VICTIM_EMAIL)
    subject = make_subject_with_records(request, records=2)
    handler = staff["admin"]
    svc.request_assign(request=request, actor=handler, assignee=handler)
    svc.request_note_add(request=request, actor=handler, body="Victim-note-text")
    svc.request_deadline_extend(
        request=request, actor=handler, months=1, reason="Victim-extension-reason"
    )
    svc.request_information_ask(request=request, actor=handler, question="Victim-question-text")
    hold = hold_place(organisation=org, reason="Victim-hold-reason", user=handler, subject=subject)
    _raw, token = api_token_issue(user=handler, name="victim's token")
    now = timezone.now()
    package = DataPackage.objects.create(
        request=request,
        kind=DataPackage.Kind.ACCESS,
        format=DataPackage.Format.JSON,
        state=DataPackage.State.RELEASED,
        file_name="never-read.bin",  # a stranger's download would fail loudly
        size=100,
        sha256="0" * 64,
        contents={"records": 2, "subjects": 1, "files": [{"name": "data.json", "size": 100}]},
        created_at=now,
        built_at=now,
        released_at=now,
        expires_at=now + dt.timedelta(days=7),
    )
    request.refresh_from_db()
    return {
        "request": request,
        "package": package,
        "subject": subject,
        "hold": hold,
        "staff": handler,
        "staff_token": token,
    }


@pytest.fixture
def strangers(org, other_org, outsider):
    """`client(actor, path)`: the stranger's client, fresh again after any sign-out."""
    mallory = make_request(org, kind="access", full_name="Mallory Attacker", email=BODY["email"])
    subject_token, _row = status_token_issue(request=mallory, kind=StatusToken.Kind.API)
    staff_token, _token = api_token_issue(user=outsider, name="outsider")
    store_token = api_token_create(organisation=other_org, name="outsider's CRM")
    clients: dict[tuple[str, bool], Client] = {}

    def new_client(actor: str, store: bool) -> Client:
        if actor == "anonymous":
            return Client()
        if actor == "subject":
            c = Client(HTTP_AUTHORIZATION=f"Bearer {subject_token}")
            session = c.session
            session[public_views.SESSION_KEY] = [mallory.pk]
            session.save()
            return c
        token = store_token if store else staff_token
        return signed_in(Client(HTTP_AUTHORIZATION=f"Bearer {token}"), outsider)

    def client(actor: str, path: str) -> Client:
        key = (actor, path.startswith("/api/v1/store/"))
        if key not in clients or "logout" in path:
            clients[key] = new_client(*key)
        return clients[key]

    return client


def victim_state(victim) -> dict:
    request = SubjectRequest.objects.get(pk=victim["request"].pk)
    return {
        "request": (
            request.status,
            request.assignee_id,
            request.due_date,
            request.full_name,
            request.email,
            request.notes.count(),
            request.questions.count(),
            request.identity_checks.count(),
            request.events.count(),
        ),
        "matches": sorted(request.matches.values_list("pk", "included", "proven_by")),
        "hold": LegalHold.objects.filter(pk=victim["hold"].pk, lifted_at__isnull=True).exists(),
        "package": DataPackage.objects.filter(pk=victim["package"].pk)
        .values_list("state", "download_count", "released_at")
        .get(),
        "staff_token": StaffApiToken.objects.get(pk=victim["staff_token"].pk).revoked_at,
        "auto_release": OrganisationSettings.objects.filter(
            organisation=request.organisation, auto_release_packages=True
        ).exists(),
        "memberships": sorted(
            StaffMembership.objects.filter(organisation=request.organisation).values_list(
                "user_id", "role"
            )
        ),
    }


def path_values(org, victim) -> dict[str, list[str]]:
    user = victim["staff"]
    return {
        "org_slug": [org.slug],
        "reference": [victim["request"].reference],
        "subject_id": [str(victim["subject"].pk)],
        "match_id": [str(victim["request"].matches.get().pk)],
        "filter_id": [
            str(
                SavedQueueFilter.objects.create(
                    user=user, name="victim", query="status=open", created_at=timezone.now()
                ).pk
            )
        ],
        "action": ["include", "exclude"],
        "hold_id": [str(victim["hold"].pk)],
        "name": {  # per route: every action or document it knows
            "staff/requests/<str:reference>/<slug:name>/": list(staff_views.ACTIONS),
            "staff/requests/<str:reference>/fulfilment/<slug:name>/": list(
                fulfilment_views.ACTIONS
            ),
            "schemas/<slug:name>.json": sorted(public_views.SCHEMAS),
        },
        "package_id": [str(victim["package"].public_id)],
        "kind": ["erasure"],
        # Django's admin
        "object_id": [str(user.pk)],
        "id": [str(user.pk)],
        "pk": [str(TOTPDevice.objects.get(user=user).pk)],
        "content_type_id": [str(ContentType.objects.get_for_model(get_user_model()).pk)],
        "app_label": ["auth"],
        "url": ["auth/nothing-here/"],
    }


def verdict(expected: frozenset, response) -> bool:
    location = response.get("Location", "")
    if response.status_code == 302 and LOGIN in expected and location.startswith("/staff/login/"):
        return True
    if (
        response.status_code == 302
        and ADMIN_LOGIN in expected
        and location.startswith("/admin/login/")
    ):
        return True
    return response.status_code in expected


def body_of(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


@override_settings(INTAKE_RATE_LIMITS={})  # every request reaches the access checks
def test_no_stranger_gets_the_victims_data_from_any_url_or_method(org, staff, victim, strangers):
    before = victim_state(victim)
    values = path_values(org, victim)
    # Query parameters for every GET: the victim's identifiers, never their data.
    query = {
        "subject": victim["subject"].external_id,
        "purpose": "newsletter",
        "q": VICTIM_NAME.split()[0],
        "organisation": org.slug,
    }
    problems, answered = [], 0
    for route, _pattern in sorted(url_patterns()):
        expect = expectation(route)
        if expect is None:
            continue  # test_every_url_pattern_is_classified names it
        for path in concrete_paths(route, values):
            for actor in ACTORS:
                allowed = getattr(expect, actor)
                for method in METHODS if not route.startswith(ADMIN_PREFIX) else ["get", "post"]:
                    client = strangers(actor, path)
                    if method == "get":
                        response = client.get(path, query)
                    elif path.startswith("/api/"):
                        response = getattr(client, method)(
                            path, json.dumps(BODY), content_type="application/json"
                        )
                    else:
                        response = getattr(client, method)(path, BODY)
                    answered += 1
                    text = body_of(response) + response.get("Location", "")
                    leaked = [m for m in MARKERS if m.lower() in text.lower()]
                    if not verdict(allowed, response) or leaked:
                        problems.append(
                            f"{method.upper()} {path} as {actor}: {response.status_code} "
                            f"{response.get('Location', '')} (allowed: {sorted(map(str, allowed))})"
                            + (f", shows {leaked}" if leaked else "")
                        )
    assert not problems, f"{len(problems)} of {answered} answers are wrong:\n" + "\n".join(problems)
    assert answered > 500
    assert victim_state(victim) == before, "a stranger changed the victim's objects"


def test_the_rightful_owners_do_see_the_data_the_matrix_looks_for(org, staff, victim):
    """The markers are really on the pages: a leak would be seen."""
    request = victim["request"]
    person = Client()
    session = person.session
    session[public_views.SESSION_KEY] = [request.pk]
    session.save()
    status_page = person.get(f"/{org.slug}/requests/{request.reference}/").content.decode()
    assert "Victim-extension-reason" in status_page
    reply_page = person.get(f"/{org.slug}/requests/{request.reference}/reply/").content.decode()
    assert "Victim-question-text" in reply_page

    staff_member = signed_in(Client(), victim["staff"])
    detail = staff_member.get(f"/staff/requests/{request.reference}/").content.decode()
    assert VICTIM_NAME in detail and VICTIM_EMAIL in detail and "Victim-note-text" in detail
    retention = staff_member.get(f"/staff/org/{org.slug}/retention/").content.decode()
    assert "Victim-hold-reason" in retention

    raw, _token = api_token_issue(user=victim["staff"], name="owner")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert VICTIM_EMAIL in api.get(f"/api/v1/staff/requests/{request.reference}").content.decode()
