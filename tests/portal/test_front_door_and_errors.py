"""The front door `/` and the error pages.

`/` lists the organisations served (settings.FRONT_DOOR = list), or redirects, or answers
the portal's own 404: never Django's debug page, which lists the URL patterns. Every error
page (400, 403, 404, 429, 500) is the portal's, styled, in the visitor's language, in the
public layout or, under /staff/, the staff one; under /api/ the API's JSON error shape.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import translation

from portal import errors
from tests.portal.test_settings import load_settings


def _sv(client: Client) -> Client:
    client.cookies["django_language"] = "sv"
    return client


def test_the_front_door_lists_the_organisations_with_links(client, organisations):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Your data protection rights" in page
    for slug, organisation in organisations.items():
        assert f'href="/{slug}/"' in page
        assert organisation.display_name in page
    assert 'href="/static/css/portal.css"' in page or "/static/css/portal" in page


def test_the_front_door_speaks_the_chosen_language(client, organisations):
    page = _sv(client).get("/").content.decode()
    assert '<html lang="sv">' in page
    assert "Dina rättigheter" in page


def test_the_front_door_can_redirect(client, settings, organisations):
    settings.FRONT_DOOR = "redirect:/framsteget/"
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/framsteget/"


def test_the_front_door_can_answer_a_plain_404_never_the_debug_page(client, settings, db):
    settings.FRONT_DOOR = "404"
    settings.DEBUG = True  # even in development: not Django's list of URL patterns
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en")
    page = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in page and 'class="error-page"' in page
    assert "URLconf" not in page and "healthz" not in page


@pytest.mark.parametrize("value", ["lists", "redirect:", "410", ""])
def test_a_bad_front_door_setting_fails_loudly(value):
    result = load_settings(FRONT_DOOR=value)
    if value == "":  # unset: the list
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode != 0
    assert "FRONT_DOOR" in result.stderr


def test_an_unknown_public_address_answers_the_styled_404_in_swedish(client, db):
    response = _sv(client).get("/no-such-organisation/requests/DSR-XXXX/")
    page = response.content.decode()
    assert response.status_code == 404
    assert "Sidan finns inte" in page and "Fel 404" in page
    assert "DSR-XXXX" not in page  # the address is never echoed
    assert "css/staff.css" not in page


def test_an_unknown_staff_address_answers_the_404_in_the_staff_layout(client, db):
    response = client.get("/staff/no-such-page/", HTTP_ACCEPT_LANGUAGE="en")
    page = response.content.decode()
    assert response.status_code == 404
    assert "css/staff.css" in page and 'class="staff"' in page
    assert "Go to the queue of requests" in page


def test_an_unknown_api_address_answers_json(client, db):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_bad_host_answers_the_styled_400(client, db):
    response = client.get("/", HTTP_HOST="evil.example", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "The request could not be understood" in response.content.decode()


def test_refused_access_answers_the_styled_403(rf: RequestFactory, db):
    request = rf.get("/staff/org/someone-else/")
    with translation.override("sv"):
        response = errors.permission_denied(request, PermissionDenied())
    page = response.content.decode()
    assert response.status_code == 403
    assert "Du har inte behörighet till sidan" in page and "css/staff.css" in page


def test_a_form_without_its_csrf_token_answers_the_styled_403(db):
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        reverse("staff:login"), {"username": "x", "password": "y"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 403
    assert "The form has expired" in response.content.decode()


def test_a_server_error_answers_the_styled_500_without_context_processors(rf, db):
    request = rf.get("/framsteget/")
    with translation.override("en"):
        response = errors.server_error(request)
    page = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in page and "css/portal.css" in page
    assert "language-switch" not in page  # no CSRF token without the request's context


def test_the_429_page_is_the_styled_error_page(client, db):
    from django.template.loader import render_to_string

    with translation.override("en"):
        page = render_to_string("429.html", {"status": 429, "minutes": 3})
    assert "Too many attempts" in page and "Please wait 3 minutes and try again." in page
    assert "Error 429" in page


@pytest.fixture
def database_out_of_reach(transactional_db, organisations):
    """The default connection points at a port where nothing listens: a real refused
    connection, as while PostgreSQL restarts."""
    from django.db import connection

    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT="1")
    yield
    connection.close()
    connection.settings_dict.update(saved)


def test_a_submission_while_the_database_is_out_of_reach_answers_503(client, database_out_of_reach):
    """Issue 14: "a filed request is never lost". What cannot be stored is not acknowledged:
    503 with Retry-After and a code the client retries on, never a bare 500."""
    response = client.post(
        "/api/v1/requests",
        {
            "organisation": "framsteget",
            "type": "access",
            "format": "json",
            "email": "a@example.org",
            "full_name": "A Person",
            "language": "en",
        },
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert "nothing was saved" in response.json()["error"]["message"]
    assert response["Retry-After"] == "30"


def test_a_page_while_the_database_is_out_of_reach_is_the_styled_503_in_swedish(
    client, database_out_of_reach
):
    response = _sv(client).get("/framsteget/")
    page = response.content.decode()
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert 'class="error-page"' in page and "Tillfälligt otillgänglig" in page
