"""The language switch of the public and the staff pages marks the current language."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.requests_app.conftest import (  # noqa: F401  (autouse)
    clean_redis,
    fast_password_hashing,
)
from tests.requests_app.helpers import signed_in


def language_buttons(response) -> dict[str, bool]:
    """{language: marked as current} for the buttons of the language switch."""
    form = re.search(
        r'<form class="language-switch".*?</form>', response.content.decode(), re.S
    ).group(0)
    return {
        value: 'aria-current="true"' in tag
        for tag, value in (
            (m.group(0), m.group(1))
            for m in re.finditer(r'<button[^>]*name="language" value="(\w+)"[^>]*>', form)
        )
    }


def switch_to(client: Client, language: str, page: str) -> None:
    response = client.post("/i18n/setlang/", {"language": language, "next": page})
    assert response.status_code == 302


@pytest.mark.parametrize("page", ["/testorg/", "/testorg/request/erasure/", "/staff/login/"])
def test_the_current_language_is_marked_on_the_pages_anyone_sees(org, page):
    client = Client()
    assert language_buttons(client.get(page)) == {"sv": True, "en": False}
    switch_to(client, "en", page)
    assert language_buttons(client.get(page)) == {"sv": False, "en": True}


@pytest.mark.parametrize("page", ["/staff/", "/staff/tokens/", "/staff/org/testorg/"])
def test_the_current_language_is_marked_on_the_staff_pages(org, staff, page):
    client = signed_in(Client(), staff["admin"])
    assert language_buttons(client.get(page)) == {"sv": True, "en": False}
    switch_to(client, "en", page)
    response = client.get(page)
    assert response.status_code == 200
    assert language_buttons(response) == {"sv": False, "en": True}
