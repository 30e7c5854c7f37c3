"""No personal data and no secret in any log line of a whole flow with real processes.

Issue 12 §7. The web (gunicorn with the access log the image, docker compose and
`make run` use), a Celery worker and Celery beat run as their own processes on the test
database, every byte they write captured to a file. A person files an access request in
the browser, confirms it with the e-mailed code and opens the e-mailed link; staff sign in
with password and TOTP, search the queue by the person's name and e-mail address, approve;
the worker builds the package, staff release it and the person downloads it. A second
person's address is refused by the mail server, so the worker's e-mail task fails and is
retried. Then every line of every log is searched for the e-mail addresses, the name, the
personnummer, the codes, the link token and the staff password: none is there.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import socket
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import requests
from django.contrib.auth import get_user_model
from django_otp.plugins.otp_totp.models import TOTPDevice

from requests_app.models import DataPackage, SubjectRequest
from retention.identifiers import normalise_personnummer
from retention.models import StaffMembership, SubjectIdentifier
from tests.conftest import BASE_DIR, start_worker, stop_worker, worker_database_url
from tests.requests_app.helpers import current_code, person_with_data
from tests.waiting import wait_for

NAME = "Astrid Lindgren-Testsson"
EMAIL = "Astrid.Lindgren@Example.org"
PERSONNUMMER = "19811218-9876"
REFUSED = "refused.person@example.org"
STAFF_PASSWORD = "a staff password nobody logs 7"  # noqa: S105
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


# --- A mail server that keeps what it is sent and refuses one address -----------------------


class MailServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        super().__init__(("127.0.0.1", 0), _SmtpHandler)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.server_address[1]}"

    def bodies(self) -> list[str]:
        return [
            m.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
            for m in list(self.messages)
        ]


class _SmtpHandler(socketserver.StreamRequestHandler):
    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        self._say("220 test ESMTP")
        recipients: list[str] = []
        while line := self.rfile.readline():
            command = line.decode("latin-1").strip()
            verb = command.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._say("250 test")
            elif verb == "MAIL":
                recipients = []
                self._say("250 ok")
            elif verb == "RCPT":
                address = command.split(":", 1)[1].strip().strip("<>")
                if address.lower() == REFUSED:
                    self._say(f"550 5.1.1 <{address}>: Recipient address rejected")
                else:
                    recipients.append(address)
                    self._say("250 ok")
            elif verb == "DATA":
                self._say("354 go ahead")
                raw = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    raw += chunk[1:] if chunk.startswith(b"..") else chunk
                self.server.messages.append(
                    email.message_from_bytes(raw, policy=email.policy.default)
                )
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:  # RSET, NOOP
                self._say("250 ok")


@pytest.fixture
def mail_server():
    server = MailServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# --- Processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("ab") as output:
        return subprocess.Popen(  # noqa: S603
            args, cwd=BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT
        )


def form_post(session: requests.Session, url: str, data: dict) -> requests.Response:
    """A form POST as the browser makes it: the CSRF token from the page, no redirects."""
    token = CSRF.search(session.get(url).text)[1]
    return session.post(url, {**data, "csrfmiddlewaretoken": token}, allow_redirects=False)


def newest(mail_server: MailServer, pattern: str, count: int) -> str:
    """The first match of `pattern` in the `count`-th message carrying one."""
    found = [m for body in mail_server.bodies() if (m := re.search(pattern, body, re.M))]
    return found[count - 1][1] if len(found) >= count else ""


# --- The flow -----------------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_no_log_line_of_a_whole_flow_holds_personal_data_or_a_secret(
    org, private_redis, mail_server, tmp_path
):
    subject = person_with_data(org, external_id="astrid")
    for kind, value in (("email", EMAIL.lower()), ("personnummer", PERSONNUMMER)):
        if kind == "personnummer":
            value = normalise_personnummer(value)
        SubjectIdentifier.objects.create(organisation=org, subject=subject, kind=kind, value=value)
    approver = get_user_model().objects.create_user(username="approver", password=STAFF_PASSWORD)
    StaffMembership.objects.create(user=approver, organisation=org, role="approver")
    TOTPDevice.objects.create(user=approver, name="TOTP", confirmed=True)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": worker_database_url(),
        "REDIS_URL": private_redis.url,
        "EMAIL_URL": mail_server.url,
        "PACKAGE_DIR": str(tmp_path / "packages"),
        "VAR_DIR": str(tmp_path / "var"),
        "PORTAL_BASE_URL": base,
        "LOG_LEVEL": "INFO",
    }
    logs = {name: tmp_path / f"{name}.log" for name in ("web", "worker", "beat")}
    bin_dir = Path(sys.executable).parent
    processes = [
        spawn(
            [
                str(bin_dir / "gunicorn"),
                "portal.wsgi",
                "--config",
                "python:portal.gunicorn_conf",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
            ],
            env,
            logs["web"],
        ),
        spawn(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(tmp_path / "celerybeat-schedule"),
            ],
            env,
            logs["beat"],
        ),
    ]
    worker = start_worker(private_redis.url, env=env, loglevel="INFO", log=logs["worker"])
    secrets_used: list[str] = []
    try:
        wait_for(lambda: _up(f"{base}/testorg/"), "gunicorn")

        # The person files an access request in the browser and confirms it.
        person = requests.Session()
        filed = form_post(
            person,
            f"{base}/testorg/request/access/",
            {
                "full_name": NAME,
                "email": EMAIL,
                "personnummer": PERSONNUMMER,
                "customer_number": "",
                "phone": "",
                "language": "en",
                "categories": ["contact", "orders"],
                "format": "html",
            },
        )
        assert filed.status_code == 302, filed.text
        request = SubjectRequest.objects.get(email=EMAIL.lower())
        status = f"{base}/testorg/requests/{request.reference}/"
        code = wait_for(lambda: newest(mail_server, r"^\s{4}(\d{6})$", 1), "the code e-mail")
        secrets_used.append(code)
        assert form_post(person, f"{status}verify/", {"code": code}).status_code == 302
        token = wait_for(lambda: newest(mail_server, r"/open/\?t=([\w-]+)", 1), "the link")
        secrets_used.append(token)
        opened = person.get(f"{status}open/?t={token}")  # the link as the mail app opens it
        assert opened.status_code == 200
        assert form_post(person, f"{status}open/?t={token}", {"t": token}).status_code == 302

        # Staff sign in with password and TOTP, search by name and address, and approve.
        staff = requests.Session()
        signed = form_post(
            staff, f"{base}/staff/login/", {"username": "approver", "password": STAFF_PASSWORD}
        )
        assert signed.headers["Location"].endswith("/staff/login/code/"), signed.text
        totp = current_code(approver)
        secrets_used.append(totp)
        assert form_post(staff, f"{base}/staff/login/code/", {"code": totp}).status_code == 302
        for query in (NAME, EMAIL):
            page = staff.get(f"{base}/staff/", params={"q": query})
            assert request.reference in page.text
        detail = f"{base}/staff/requests/{request.reference}/"
        token_page = staff.get(detail).text
        approved = staff.post(
            f"{detail}approve/",
            {"csrfmiddlewaretoken": CSRF.search(token_page)[1]},
            allow_redirects=False,
        )
        assert approved.status_code == 302, approved.text

        # The worker builds the package; staff release it; the person downloads it.
        package = wait_for(
            lambda: DataPackage.objects.filter(request=request, state="ready").first(),
            "the worker to build the package",
        )
        released = staff.post(
            f"{detail}package/release/",
            {"csrfmiddlewaretoken": CSRF.search(staff.get(detail).text)[1]},
            allow_redirects=False,
        )
        assert released.status_code == 302
        download = person.get(f"{status}download/{package.public_id}/")
        assert download.status_code == 200 and len(download.content) > 100

        # A second person whose address the mail server refuses: the e-mail task retries.
        second = requests.post(
            f"{base}/api/v1/requests",
            json={
                "organisation": "testorg",
                "type": "access",
                "email": REFUSED,
                "full_name": "Refused Person",
                "language": "en",
                "format": "json",
            },
            timeout=30,
        )
        assert second.status_code == 201
        wait_for(
            lambda: "SMTPRecipientsRefused" in logs["worker"].read_text(errors="replace"),
            "the worker to retry the refused e-mail",
        )
        time.sleep(1)  # let the processes flush
    finally:
        stop_worker(worker)
        for proc in processes:
            stop_worker(proc)

    text = {name: path.read_text(errors="replace") for name, path in logs.items()}
    # The logs are real: the requests, the tasks and beat are there.
    assert f'"GET /testorg/requests/{request.reference}/open/"' in text["web"]
    assert '"GET /staff/"' in text["web"]
    assert "send_verification_email" in text["worker"] and "retry" in text["worker"]
    assert "beat" in text["beat"].lower()
    forbidden = [
        EMAIL,
        quote(EMAIL),
        quote_plus(EMAIL),
        REFUSED,
        quote(REFUSED),
        NAME,
        "Lindgren",
        quote_plus(NAME),
        PERSONNUMMER,
        PERSONNUMMER.replace("-", ""),
        PERSONNUMMER[2:],
        PERSONNUMMER[2:].replace("-", ""),
        STAFF_PASSWORD,
        "Anna Andersson",  # in the person's records
        *secrets_used,
    ]
    for name, content in text.items():
        for secret in forbidden:
            pattern = (
                rf"(?<!\d){re.escape(secret)}(?!\d)" if secret.isdigit() else re.escape(secret)
            )
            assert not re.search(pattern, content, re.IGNORECASE), f"{secret!r} in the {name} log"


def _up(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False
