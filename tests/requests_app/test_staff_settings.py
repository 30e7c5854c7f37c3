"""A staff member's own settings: the language of their staff pages and e-mails, and the
way to their recovery codes.

The language is theirs, not one browser's: once chosen, every staff page is in it on
any computer. Without a choice the pages follow the browser's language switch.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.test import Client
from django.urls import reverse

from requests_app.models import StaffPreference
from requests_app.services.staff_preferences import staff_language_set
from tests.requests_app.helpers import signed_in

SETTINGS = "/staff/settings/"


def html_language(response) -> str:
    return re.search(r'<html lang="(\w+)"', response.content.decode()).group(1)


def test_the_settings_page_links_to_the_recovery_codes(org, staff, staff_client):
    response = staff_client(staff["viewer"]).get(SETTINGS)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="{reverse("staff:recovery_codes")}"' in html
    assert f'href="{reverse("staff:settings")}"' in html  # in the staff navigation


def test_a_chosen_language_applies_to_every_staff_page_on_any_computer(org, staff, staff_client):
    handler = staff["handler"]
    client = staff_client(handler)
    assert html_language(client.get("/staff/")) == "sv"  # the portal's default
    response = client.post(SETTINGS, {"language": "en"})
    assert response.status_code == 302 and response["Location"] == SETTINGS
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert StaffPreference.objects.get(user=handler).language == "en"
    messages = [str(m) for m in client.get(SETTINGS).context["messages"]]
    assert messages == ["Your settings are saved."]
    # Another computer: no language cookie, a Swedish browser; the pages are in English.
    elsewhere = signed_in(Client(HTTP_ACCEPT_LANGUAGE="sv"), handler)
    for page in ("/staff/", f"/staff/org/{org.slug}/", SETTINGS):
        assert html_language(elsewhere.get(page)) == "en", page
    # Signing in comes before the setting: those pages follow the browser.
    assert html_language(Client(HTTP_ACCEPT_LANGUAGE="sv").get("/staff/login/")) == "sv"


def test_the_header_switch_of_a_signed_in_member_keeps_their_setting(org, staff, staff_client):
    handler = staff["handler"]
    staff_language_set(user=handler, language="sv")
    client = staff_client(handler)
    page = client.get("/staff/tokens/")
    switch = re.search(r'<form class="language-switch" action="([^"]+)"', page.content.decode())
    assert switch.group(1) == SETTINGS
    response = client.post(SETTINGS, {"language": "en", "next": "/staff/tokens/"})
    assert response["Location"] == "/staff/tokens/"
    assert html_language(client.get("/staff/tokens/")) == "en"
    # Back to the defaults: the browser's switch rules again.
    client.post(SETTINGS, {"language": ""})
    assert StaffPreference.objects.get(user=handler).language == ""
    client.post("/i18n/setlang/", {"language": "sv", "next": "/staff/"})
    assert html_language(client.get("/staff/")) == "sv"


def test_the_setting_refuses_other_languages_and_foreign_next_pages(org, staff, staff_client):
    client = staff_client(staff["handler"])
    assert client.post(SETTINGS, {"language": "de"}).status_code == 400
    assert not StaffPreference.objects.exists()
    response = client.post(SETTINGS, {"language": "en", "next": "https://evil.example/"})
    assert response["Location"] == SETTINGS


def test_the_setting_is_changed_only_with_a_csrf_token(org, staff):
    client = signed_in(Client(enforce_csrf_checks=True), staff["handler"])
    assert client.post(SETTINGS, {"language": "en"}).status_code == 403
    assert not StaffPreference.objects.exists()


def test_strangers_are_sent_to_sign_in(org, staff):
    response = Client().post(SETTINGS, {"language": "en"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("staff:login"))
    assert not StaffPreference.objects.exists()
