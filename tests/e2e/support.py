"""Helpers of the browser tests: Chromium, the mailbox the worker writes, steps with
screenshots and axe-core, and the words the person sees in Swedish and English.
"""

from __future__ import annotations

import datetime as dt
import email
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

from tests.waiting import wait_for

BASE_DIR = Path(__file__).resolve().parents[2]
ARTIFACTS = BASE_DIR / "test-artifacts" / "e2e"

# Debian's chromium (Playwright's own browser download does not work on our machines).
# Without the background-networking flags Chromium keeps calling home.
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = (
    "Chromium not found: install it with `apt-get install -y chromium` "
    "(or set CHROMIUM=/path/to/chromium); see the README, 'Browser tests'"
)

# axe-core, vendored from the npm package (tests/e2e/vendor/axe-core/README.md).
AXE_SCRIPT = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"

# WCAG 2.1 A and AA; serious and critical violations fail a test.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_FAILING_IMPACTS = {"serious", "critical"}


def chromium_executable() -> str | None:
    """The Chromium to drive: $CHROMIUM, else Debian's package; None when there is none."""
    explicit = os.environ.get("CHROMIUM", "").strip()
    if explicit:
        path = shutil.which(explicit) or explicit
        return path if os.access(path, os.X_OK) else None
    for candidate in CHROMIUM_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def browser_required() -> bool:
    """REQUIRE_BROWSER=1 (CI): a browser test that cannot run fails instead of skipping."""
    return os.environ.get("REQUIRE_BROWSER", "").strip().lower() in {"1", "true", "yes", "on"}


# --- The mailbox ------------------------------------------------------------------------

# Django's file backend ends every message with a line of 79 dashes.
_SEPARATOR = b"\n" + b"-" * 79 + b"\n"


@dataclass
class Mail:
    to: list[str]
    subject: str
    text: str
    html: str

    def code(self) -> str:
        """The six-digit code of a verification e-mail (on a line of its own, indented)."""
        match = re.search(r"^\s{4}(\d{6})\s*$", self.text, re.MULTILINE)
        assert match, f"no code in the e-mail {self.subject!r}"
        return match.group(1)

    def links(self) -> list[str]:
        return re.findall(r"https?://\S+", self.text)


def _parse(raw: bytes) -> Mail:
    message: Message = email.message_from_bytes(raw)
    text = html = ""
    for part in message.walk():
        if part.get_content_maintype() == "multipart":
            continue
        payload = part.get_payload(decode=True) or b""
        body = payload.decode(part.get_content_charset() or "utf-8")
        if part.get_content_type() == "text/plain":
            text = body
        elif part.get_content_type() == "text/html":
            html = body
    subject = str(email.header.make_header(email.header.decode_header(message["Subject"] or "")))
    to = [a.strip() for a in (message["To"] or "").split(",") if a.strip()]
    return Mail(to=to, subject=subject, text=text, html=html)


@dataclass
class Mailbox:
    """The e-mails the worker wrote with Django's file backend (EMAIL_URL=filemail://...)."""

    directory: Path

    def messages(self) -> list[Mail]:
        """Every complete message, oldest first (files by name, then by position)."""
        found = []
        for path in sorted(self.directory.glob("*.log"), key=lambda p: (p.stat().st_mtime, p)):
            data = path.read_bytes()
            # A message still being written has no separator yet: skip it.
            for chunk in data.split(_SEPARATOR)[:-1]:
                if chunk.strip():
                    found.append(_parse(chunk))
        return found

    def to(self, address: str) -> list[Mail]:
        return [m for m in self.messages() if address in m.to]

    def wait_for(
        self, address: str, *, count: int = 1, subject: str = "", timeout: float = 30
    ) -> Mail:
        """Wait until `address` has received `count` messages (whose subject contains
        `subject`); return the newest of them."""

        def arrived() -> Mail | None:
            received = [m for m in self.to(address) if subject in m.subject]
            return received[-1] if len(received) >= count else None

        return wait_for(
            arrived,
            f"{count} e-mail(s) {subject!r} to {address}",
            timeout=timeout,
            seen=lambda: [m.subject for m in self.to(address)],
        )


# --- axe-core --------------------------------------------------------------------------------


@dataclass
class AxeResults:
    response: dict


class Axe:
    """Runs the vendored axe-core in a page. `page.evaluate` runs in the page's main world
    through the DevTools protocol, so the portal's Content-Security-Policy (scripts from
    our own origin only) does not block it, and nothing about the page is relaxed."""

    def __init__(self, script: Path = AXE_SCRIPT) -> None:
        self.source = script.read_text()

    def run(self, page, options: dict | None = None) -> AxeResults:
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(self.source)
        response = page.evaluate("options => window.axe.run(document, options)", options or {})
        return AxeResults(response=response)


# --- Steps: a screenshot and an accessibility check of every page the test sees -------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]


@dataclass
class Steps:
    """Numbered screenshots under test-artifacts/e2e/<test>/, and axe-core on each page.

    A page state (route, language, step name) that an earlier test already checked is
    not checked again: the landing, verify and status pages look the same for every
    request type, and axe takes a second or two per page.
    """

    folder: Path
    axe: Axe
    checked: set  # shared by the tests of the session
    number: int = 0
    findings: list[dict] = field(default_factory=list)

    def __call__(self, page, name: str, *, check: bool = True) -> None:
        self.number += 1
        stem = f"{self.number:02d}-{_slug(name)}"
        page.screenshot(path=str(self.folder / f"{stem}.png"), full_page=True)
        if not check:
            return
        route = re.sub(r"DSR-[0-9A-Z-]+", "<reference>", page.url.split("?")[0].split("//")[-1])
        key = (route.partition("/")[2], page.locator("html").get_attribute("lang"), name)
        if key not in self.checked:
            self.check(page, stem)
            self.checked.add(key)

    def check(self, page, stem: str) -> None:
        """axe-core with the WCAG 2.1 A/AA rules: no serious or critical violation."""
        results = self.axe.run(
            page,
            options={
                "runOnly": {"type": "tag", "values": AXE_TAGS},
                "resultTypes": ["violations"],
            },
        )
        violations = results.response["violations"]
        if violations:
            (self.folder / f"{stem}.axe.json").write_text(json.dumps(violations, indent=2))
        for violation in violations:
            self.findings.append(
                {
                    "page": page.url,
                    "step": stem,
                    "id": violation["id"],
                    "impact": violation["impact"],
                }
            )
        failing = [v for v in violations if v["impact"] in AXE_FAILING_IMPACTS]
        assert not failing, f"axe on {page.url} ({stem}):\n" + "\n".join(
            f"- {v['impact']} {v['id']}: {v['help']} "
            f"({', '.join(str(n['target']) for n in v['nodes'][:5])})"
            for v in failing
        )


# --- Dates as the status page shows them ----------------------------------------------------

WEEKDAYS = {
    "sv": ["måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}
MONTHS = {
    "sv": [
        "januari",
        "februari",
        "mars",
        "april",
        "maj",
        "juni",
        "juli",
        "augusti",
        "september",
        "oktober",
        "november",
        "december",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}


def long_date(day: dt.date, language: str) -> str:
    """`måndag 2 mars 2026` / `Monday 2 March 2026` (the status page's due date)."""
    return f"{WEEKDAYS[language][day.weekday()]} {short_date(day, language)}"


def short_date(day: dt.date, language: str) -> str:
    """`2 mars 2026` / `2 March 2026`."""
    return f"{day.day} {MONTHS[language][day.month - 1]} {day.year}"


def summary(page) -> dict[str, str]:
    """The status page's summary list as {term: description}."""
    return page.eval_on_selector(
        "dl.summary",
        """dl => Object.fromEntries([...dl.querySelectorAll('dt')].map(
              dt => [dt.innerText.trim(), dt.nextElementSibling.innerText.trim()]))""",
    )


# --- What the person reads, in both languages ------------------------------------------------

TEXT = {
    "sv": {
        "language_button": "Svenska",
        "send_request": "Skicka begäran",
        "confirm": "Bekräfta",
        "send_new_code": "Skicka en ny kod",
        "error_summary": "Rätta följande",
        "due": "Vi svarar senast",
        "why_more_time": "Varför vi behöver mer tid",
        "wrong_code": "Koden stämmer inte. Försök kvar: {left}.",
        "locked": "För många felaktiga försök: koden fungerar inte längre. Be om en ny kod.",
        "expired_code": "Koden har gått ut eller är redan använd. Be om en ny kod.",
        "link_used": "Länken har gått ut eller är redan använd. Bekräfta din e-postadress igen.",
        "show_status": "Visa status för min begäran",
        "check_digit": "Kontrollsiffran stämmer inte: kontrollera numret.",
        "new_code_sent": "Vi har skickat en ny kod. Den gamla koden fungerar inte längre.",
        "confirmation_subject": "Vi har tagit emot din begäran",
        "code_subject": "är din kod för din begäran till",
    },
    "en": {
        "language_button": "English",
        "send_request": "Send request",
        "confirm": "Confirm",
        "send_new_code": "Send a new code",
        "error_summary": "Please correct the following",
        "due": "We answer at the latest",
        "why_more_time": "Why we need more time",
        "wrong_code": "The code is not right. Tries left: {left}.",
        "locked": "Too many wrong tries: this code no longer works. Ask for a new code.",
        "expired_code": "The code has expired or was already used. Ask for a new code.",
        "link_used": (
            "This link has expired or was already used. Confirm your e-mail address again."
        ),
        "show_status": "Show the status of my request",
        "check_digit": "The check digit does not match: please check the number.",
        "new_code_sent": "We have sent a new code. The old code no longer works.",
        "confirmation_subject": "We have received your request",
        "code_subject": "is your code for your request to",
    },
}

# What a staff member reads (the staff pages follow the same language switch).
STAFF_TEXT = {
    "sv": {
        "user_name": "Användarnamn",
        "password": "Lösenord",
        "continue": "Fortsätt",
        "code": "Sexsiffrig kod från din autentiseringsapp, eller en återställningskod",
        "sign_in": "Logga in",
        "search": "Referens, namn eller e-post",
        "filter": "Filtrera",
        "assign_to": "Tilldela",
        "extend_by": "Förläng med",
        "reason": "Skäl (personen får veta det)",
        "assign": "Tilldela",
        "extend": "Förläng",
        "assigned": "Begäran är tilldelad.",
        "extended": "Tidsfristen är förlängd och personen får veta varför.",
        "approve_plan": "Godkänn raderingsplanen",
        "plan_approved": "Raderingsplanen är godkänd; en worker genomför den nu.",
        "release": "Lämna ut till personen",
    },
    "en": {
        "user_name": "User name",
        "password": "Password",
        "continue": "Continue",
        "code": "Six-digit code from your authenticator app, or a recovery code",
        "sign_in": "Sign in",
        "search": "Reference, name or e-mail",
        "filter": "Filter",
        "assign_to": "Assign to",
        "extend_by": "Extend by",
        "reason": "Reason (the person is told)",
        "assign": "Assign",
        "extend": "Extend",
        "assigned": "The request is assigned.",
        "extended": "The time limit is extended and the person is told why.",
        "approve_plan": "Approve the erasure plan",
        "plan_approved": "The erasure plan is approved; a worker carries it out now.",
        "release": "Release to the person",
    },
}
