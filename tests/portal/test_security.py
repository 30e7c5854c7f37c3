"""Security checks: the deployment check, response headers, cookies, CSRF and static analysis.

Production values are never copied into these tests: `production_settings`
imports the settings in a fresh interpreter with a production environment
(DEBUG=false) and the tests apply exactly what it reports.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import Client, override_settings

from portal.security import SecurityHeadersMiddleware
from requests_app.models import StatusToken
from requests_app.services.staff_auth import api_token_issue
from requests_app.services.tokens import status_token_issue
from tests.portal.conftest import PRODUCTION_HMAC_KEYS
from tests.requests_app.conftest import (  # noqa: F401  (autouse)
    clean_redis,
    fast_password_hashing,
)
from tests.requests_app.helpers import PASSWORD, current_code, make_request, signed_in, submit

BASE_DIR = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "k7#Qp2!vZ9xL0m$Wc4rT8yB1nH6jF3sD5gA0eU7iO2pK9lM4qR",
    "ALLOWED_HOSTS": "portal.example.org",
    **PRODUCTION_HMAC_KEYS,
}
# The settings that shape security headers and cookies.
SECURITY_SETTINGS = [
    "ALLOWED_HOSTS",
    "CSRF_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SAMESITE",
    "CSRF_COOKIE_SECURE",
    "LANGUAGE_COOKIE_HTTPONLY",
    "LANGUAGE_COOKIE_SAMESITE",
    "LANGUAGE_COOKIE_SECURE",
    "MIDDLEWARE",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_CROSS_ORIGIN_OPENER_POLICY",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_HSTS_SECONDS",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_REDIRECT_EXEMPT",
    "SECURE_REFERRER_POLICY",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "SESSION_COOKIE_SECURE",
    "X_FRAME_OPTIONS",
]
HOST = "portal.example.org"


def production_env(**overrides: str) -> dict:
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": os.environ["REDIS_URL"],
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        **PRODUCTION_ENV,
    }
    env.update(overrides)
    return env


def manage(*args: str, **env_overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        env=production_env(**env_overrides),
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def production_settings() -> dict:
    """The security settings as a production environment (DEBUG=false) makes them."""
    names = json.dumps(SECURITY_SETTINGS)
    script = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {names}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=production_env(),
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    values["SECURE_PROXY_SSL_HEADER"] = tuple(values["SECURE_PROXY_SSL_HEADER"])
    return values


@pytest.fixture
def production(production_settings):
    with override_settings(**production_settings):
        yield


def https_client(**kwargs) -> Client:
    return Client(HTTP_HOST=HOST, **kwargs)


# --- manage.py check --deploy -------------------------------------------------------------


def test_check_deploy_reports_no_issue_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_would_catch_a_weakened_production_setting():
    """The check above looks at the real production settings: weakening one is reported."""
    result = manage("check", "--deploy", "--fail-level", "WARNING", SECURE_HSTS_SECONDS="0")
    assert result.returncode != 0
    assert "security.W004" in result.stdout + result.stderr


# --- Headers --------------------------------------------------------------------------------


def assert_security_headers(response, *, hsts: bool) -> None:
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] in {"same-origin", "no-referrer", "strict-origin"}
    assert response["X-Frame-Options"] == "DENY"
    assert "no-store" in response["Cache-Control"]
    if hsts:
        hsts_value = response["Strict-Transport-Security"]
        assert int(re.search(r"max-age=(\d+)", hsts_value).group(1)) >= 31536000
        assert "includeSubDomains" in hsts_value


def test_production_redirects_plain_http_to_https(production, org):
    response = https_client().get("/testorg/")
    assert response.status_code == 301
    assert response["Location"] == f"https://{HOST}/testorg/"


def test_public_pages_carry_the_security_headers_in_production(production, org):
    request = submit(org, email="anna@example.org")
    client = https_client()
    pages = [
        "/testorg/",
        "/testorg/request/erasure/",
        f"/testorg/requests/{request.reference}/verify/",
        f"/testorg/requests/{request.reference}/",
    ]
    for path in pages:
        response = client.get(path, secure=True)
        assert response.status_code == 200, path
        assert_security_headers(response, hsts=True)


def test_the_status_page_with_personal_data_is_never_stored(production, org):
    request = submit(org, email="anna@example.org")
    token, _row = status_token_issue(request=request, kind=StatusToken.Kind.LINK)
    client = https_client()
    client.post(f"/testorg/requests/{request.reference}/open/", {"t": token}, secure=True)
    response = client.get(f"/testorg/requests/{request.reference}/", secure=True)
    assert response.status_code == 200
    assert "requests_app/public/status.html" in [t.name for t in response.templates]
    assert_security_headers(response, hsts=True)


def test_staff_pages_carry_the_security_headers_in_production(production, org, staff):
    request = make_request(org)
    client = signed_in(https_client(), staff["admin"])
    for path in [
        "/staff/login/",
        "/staff/",
        f"/staff/requests/{request.reference}/",
        f"/staff/org/{org.slug}/",
        f"/staff/org/{org.slug}/retention/",
        f"/staff/org/{org.slug}/register.csv",
        "/staff/tokens/",
    ]:
        response = client.get(path, secure=True)
        assert response.status_code == 200, path
        assert_security_headers(response, hsts=True)


def test_api_answers_carry_the_security_headers_in_production(production, org, staff):
    request = make_request(org)
    raw, _token = api_token_issue(user=staff["viewer"], name="test")
    client = https_client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    for path, status in [
        ("/api/v1/staff/requests", 200),
        (f"/api/v1/staff/requests/{request.reference}", 200),
        (f"/api/v1/requests/{request.reference}", 401),
        ("/api/v1/store/processing-check", 401),
        ("/api/schema/", 200),
    ]:
        response = client.get(path, secure=True)
        assert response.status_code == status, path
        assert_security_headers(response, hsts=True)


def test_error_pages_carry_the_security_headers(org):
    assert_security_headers(Client().get("/no-such-organisation/"), hsts=False)
    assert_security_headers(Client().get("/api/v1/requests/NOPE"), hsts=False)


def test_a_view_with_a_policy_of_its_own_still_cannot_be_framed(rf):
    def view(request):
        response = HttpResponse("report")
        response["Content-Security-Policy"] = "sandbox; default-src 'none'"
        return response

    response = SecurityHeadersMiddleware(view)(rf.get("/"))
    assert response["Content-Security-Policy"] == (
        "sandbox; default-src 'none'; frame-ancestors 'none'"
    )
    assert "no-store" in response["Cache-Control"]


def test_static_files_keep_their_cache_headers(client):
    response = client.get("/static/css/portal.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


def test_the_api_docs_page_loads_swagger_ui_from_our_own_static_files(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in sources
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css" in sources
    assert all(source.startswith("/") and not source.startswith("//") for source in sources)
    assert "://" not in page
    for source in sources:  # each one is really there (static files, the start-up script)
        assert client.get(source).status_code == 200, source
    assert client.get("/api/docs/?script=")["Content-Type"].startswith("application/javascript")


def test_the_api_docs_page_allows_no_other_origin_and_nothing_inline(client):
    response = client.get("/api/docs/")
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self';" in csp and "style-src 'self';" in csp
    assert "https:" not in csp and "http:" not in csp and "cdn" not in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    page = response.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)|<style|\sstyle=", page)


def test_no_template_needs_inline_script_or_style():
    """The Content-Security-Policy forbids inline scripts, styles and event handlers."""
    inline = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=|javascript:", re.I)
    offenders = [
        f"{path.relative_to(BASE_DIR)}: {match.group(0).strip()}"
        for path in sorted((BASE_DIR / "templates").rglob("*.html"))
        # E-mails and the access report in a package are documents, not pages of the site:
        # they must carry their own style (the staff preview of the report has its own CSP).
        if "emails" not in path.parts and "packages" not in path.parts
        for match in inline.finditer(path.read_text())
    ]
    assert offenders == []


# --- Cookies --------------------------------------------------------------------------------


def test_every_cookie_is_secure_httponly_and_samesite_in_production(production, org, staff):
    """A person's whole flow and a staff sign-in, over HTTPS with production settings."""
    seen = {}

    def collect(response):
        for name, morsel in response.cookies.items():
            if morsel.value and morsel["max-age"] != 0:
                seen[name] = morsel
        return response

    person = https_client()
    collect(person.get("/testorg/", secure=True))
    collect(person.post("/i18n/setlang/", {"language": "en", "next": "/testorg/"}, secure=True))
    request = submit(org, email="anna@example.org")
    token, _row = status_token_issue(request=request, kind=StatusToken.Kind.LINK)
    opened = f"/testorg/requests/{request.reference}/open/"
    collect(person.post(opened, {"t": "not-the-token"}, secure=True))  # sets a message
    collect(person.post(opened, {"t": token}, secure=True))
    collect(person.get(f"/testorg/requests/{request.reference}/", secure=True))

    staff_member = https_client()
    collect(
        staff_member.post("/staff/login/", {"username": "admin", "password": PASSWORD}, secure=True)
    )
    collect(
        staff_member.post("/staff/login/code/", {"code": current_code(staff["admin"])}, secure=True)
    )
    assert staff_member.get("/staff/", secure=True).status_code == 200

    assert {"csrftoken", "sessionid", "django_language", "messages"} <= set(seen)
    for name, morsel in seen.items():
        assert morsel["secure"], name
        assert morsel["httponly"], name
        assert morsel["samesite"] in ("Lax", "Strict"), name


# --- CSRF -------------------------------------------------------------------------------------


def test_forms_refuse_a_post_without_the_csrf_token(org, staff):
    request = make_request(org)
    client = signed_in(Client(enforce_csrf_checks=True), staff["admin"])
    for path, data in [
        ("/testorg/request/erasure/", {"email": "anna@example.org"}),
        (f"/testorg/requests/{request.reference}/verify/", {"code": "123456"}),
        ("/staff/login/", {"username": "admin", "password": PASSWORD}),
        (f"/staff/requests/{request.reference}/note/", {"body": "x"}),
        ("/i18n/setlang/", {"language": "en"}),
    ]:
        assert client.post(path, data).status_code == 403, path


# --- Static analysis ---------------------------------------------------------------------------


def test_bandit_finds_no_high_severity_issue():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bandit",
            "--recursive",
            "--format",
            "json",
            "--quiet",
            "portal",
            "requests_app",
            "retention",
        ],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(result.stdout)
    assert not report["errors"], report["errors"]
    assert report["metrics"]["_totals"]["loc"] > 1000  # it really read the code
    findings = report["results"]
    for finding in findings:
        if finding["issue_severity"] == "MEDIUM":
            print(  # shown with -rP / on failure: worth a look, not a failure
                f"bandit MEDIUM {finding['test_id']} {finding['filename']}:"
                f"{finding['line_number']} {finding['issue_text']}"
            )
    high = [
        f"{f['test_id']} {f['filename']}:{f['line_number']} {f['issue_text']}"
        for f in findings
        if f["issue_severity"] == "HIGH"
    ]
    assert high == []
