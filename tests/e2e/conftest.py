"""The stack for the browser tests, and the rules for running them.

Chromium (Debian's package) drives the portal served by pytest-django's
`live_server` (a real HTTP server in a thread of the test process, on the test
database), with a real Celery worker process on a Redis of this package's own.
Every e-mail goes through the outbox and that worker, which writes it to a
mail folder with Django's file backend; the tests read the codes from there.

One browser is started for the whole package and each test opens its own
browser contexts (a person, a staff member): no cookies leak between tests.

Without Chromium the tests are skipped with a notice at the end of the run;
with REQUIRE_BROWSER=1 (what `.ci/run` sets) they fail instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass

import pytest
import redis

from tests.conftest import redis_of_its_own, start_worker, stop_worker

from .support import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    INSTALL_HINT,
    Axe,
    Mailbox,
    Steps,
    browser_required,
    chromium_executable,
)

# --- Skipped browser tests are visible, and fail the run under REQUIRE_BROWSER=1 ----------

_skipped_browser_tests: list[tuple[str, str]] = []


def pytest_runtest_logreport(report):
    if report.skipped and "browser" in report.keywords:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _skipped_browser_tests.append((report.nodeid, reason.removeprefix("Skipped: ")))


def pytest_sessionfinish(session, exitstatus):
    if _skipped_browser_tests and browser_required() and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _skipped_browser_tests:
        return
    reasons = sorted({reason for _nodeid, reason in _skipped_browser_tests})
    required = browser_required()
    terminalreporter.section(
        "browser tests " + ("FAILED: REQUIRE_BROWSER=1" if required else "skipped"),
        sep="=",
        red=required,
        yellow=not required,
        bold=True,
    )
    terminalreporter.line(
        f"{len(_skipped_browser_tests)} browser test(s) did not run: " + "; ".join(reasons)
    )
    if required:
        terminalreporter.line("REQUIRE_BROWSER=1: a skipped browser test fails the run.")


# --- The browser ----------------------------------------------------------------------------


@pytest.fixture(scope="package")
def chromium() -> str:
    """The Chromium executable; skips (or, with REQUIRE_BROWSER=1, fails) without one."""
    path = chromium_executable()
    problem = None if path else INSTALL_HINT
    if problem is None:
        try:
            import playwright  # noqa: F401
        except ImportError:
            problem = "Playwright is not installed: `.venv/bin/pip install -e '.[dev]'`"
    if problem:
        if browser_required():
            pytest.fail(f"REQUIRE_BROWSER=1 but the browser tests cannot run. {problem}")
        pytest.skip(problem)
    return path


@pytest.fixture(scope="package")
def browser(chromium):
    """One headless Chromium for all browser tests."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop running in this thread, which makes
    # Django refuse database access from the test body; only while these tests run.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            instance = playwright.chromium.launch(
                executable_path=chromium, args=CHROMIUM_ARGS, headless=True
            )
            yield instance
            instance.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="package")
def axe(browser):
    """axe-core (vendored: tests/e2e/vendor/axe-core/)."""
    return Axe()


# --- The stack: live server, private Redis, a real worker, the mailbox ---------------------


@dataclass
class Stack:
    url: str
    mailbox: Mailbox
    redis_url: str
    worker: object


@pytest.fixture(scope="package")
def e2e_redis(tmp_path_factory):
    """A Redis of these tests' own: broker, cache and rate limits of the live server
    (`private_redis`, kept for the whole package as the live server and worker are)."""
    with redis_of_its_own(tmp_path_factory.mktemp("e2e-redis")) as server:
        yield server


@pytest.fixture(scope="package")
def stack(browser, live_server, e2e_redis, tmp_path_factory, django_db_setup):
    """The portal as a person reaches it: web (live server) and a Celery worker sending mail."""
    mailbox = Mailbox(tmp_path_factory.mktemp("e2e-mail"))
    worker = start_worker(
        e2e_redis.url,
        env={
            "EMAIL_URL": f"filemail://{mailbox.directory}",
            "PORTAL_BASE_URL": live_server.url,
        },
    )
    yield Stack(url=live_server.url, mailbox=mailbox, redis_url=e2e_redis.url, worker=worker)
    stop_worker(worker)


@pytest.fixture(autouse=True)
def _fresh_limits(request):
    """No rate-limit counters or login lock-outs carried over from the test before."""
    if "stack" not in request.fixturenames:
        yield
        return
    stack = request.getfixturevalue("stack")
    assert stack.worker.poll() is None, "the Celery worker of the browser tests has died"
    client = redis.Redis.from_url(stack.redis_url)
    keys = list(client.scan_iter("dsr:*"))
    if keys:
        client.delete(*keys)
    client.close()
    yield


@pytest.fixture
def new_page(browser, stack):
    """new_page("sv-SE") -> a page in a fresh browser context (its own cookies);
    new_page(javascript=False) for a browser with JavaScript turned off."""
    contexts = []

    def _new(locale: str = "sv-SE", *, javascript: bool = True):
        context = browser.new_context(
            base_url=stack.url,
            locale=locale,
            viewport={"width": 1024, "height": 768},
            java_script_enabled=javascript,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield _new
    for context in contexts:
        context.close()


_axe_findings: list[dict] = []
_axe_checked: set = set()


@pytest.fixture
def steps(request, axe):
    """steps(page, "name"): a numbered screenshot and an axe-core check of the page."""
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    recorder = Steps(folder=folder, axe=axe, checked=_axe_checked)
    yield recorder
    _axe_findings.extend({"test": request.node.nodeid, **f} for f in recorder.findings)


@pytest.fixture(scope="package", autouse=True)
def _axe_report():
    """test-artifacts/e2e/axe-findings.json: every violation axe reported (any impact)."""
    yield
    if _axe_findings:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "axe-findings.json").write_text(json.dumps(_axe_findings, indent=2))
