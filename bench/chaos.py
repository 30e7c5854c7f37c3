"""The chaos run (issue 14): the whole stack under load while Redis, workers and PostgreSQL fail.

    .venv/bin/python bench/chaos.py [--requests 2000] [--rate 5] [--big 50000]
                                    [--sweep-records 200000] [--freeze 30]

`make chaos` runs it with the full figures; `tests/portal/test_chaos.py` runs
it small (`--requests 300 ...`). In one run:

1. Starts an embedded PostgreSQL and a Redis *without persistence*
   (bench.common.BenchStack: a fresh migrated database, production-like
   settings) and seeds: a FRAMSTEGET subject with `--big` records and a few
   with fewer (to be erased, or to get an access package), and
   `--sweep-records` records of PROKOMPETENS for the retention sweep, half of
   them expired. A copy of the database is taken before anything runs (the
   sweep's undisturbed reference).
2. Starts gunicorn, a Celery worker and beat under `portal.supervisor` (as
   `make run` does), which restarts whatever dies.
3. A load generator files requests over the API (`POST /api/v1/requests`) at
   a steady rate, each from its own client address (X-Forwarded-For through a
   trusted proxy, as behind a load balancer), reads each verification code
   from the e-mail files and verifies over the API; the erasures and access
   requests of the seeded subjects are approved over the staff API (token and
   TOTP code, as an approver would).
4. Meanwhile it injects, one after another: Redis frozen (SIGSTOP for
   `--freeze` s, then SIGCONT); Redis killed (SIGKILL) and restarted empty by
   the supervisor; the worker killed (SIGKILL to its process group) during the
   big erasure, and again during an access package build; PostgreSQL stopped
   (fast shutdown) during the sweep and restarted by the supervisor; beat
   killed and restarted.
5. Waits until the work drains, then checks, and prints a table:
   every request answered 201 is stored; every verification e-mail, and every
   verified request's confirmation e-mail, went out exactly once; every
   approved erasure completed exactly once with one
   `retention.erasure.completed` audit entry; every approved access request
   has its package; the sweep's remaining rows have the same fingerprint as
   an undisturbed sweep (same cutoff) of the copy; the audit chain verifies;
   no outbox message, job or sweep is left unfinished. Exit status 1 when a
   check fails.

Writes `bench/results/chaos.json` (or `--results`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import email
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import BASE_DIR, BenchStack, log, percentile  # noqa: E402

BIN = Path(sys.executable).parent
SWEEP_ORG = "prokompetens"
ERASE_ORG = "framsteget"
CODE_LINE = re.compile(r"^\s{4}(\d{6})$", re.MULTILINE)
LINK_LINE = re.compile(r"/open/\?t=[\w-]+")


# --- the load ---------------------------------------------------------------------
@dataclass
class Filed:
    n: int
    email: str
    kind: str
    phase: str
    started: float
    latency: float
    status: int
    reference: str = ""
    verified: bool = False
    approve: bool = False
    approved: bool = False
    plan_approved: bool = False  # an erasure's plan, approved once the worker made it
    tried: set = field(default_factory=set)  # codes tried (a newer e-mail is tried again)


@dataclass
class Phase:
    name: str
    started: float
    ended: float | None = None
    recovered_after: float | None = None
    note: str = ""


@dataclass
class Run:
    base: str
    mail_dir: Path
    filed: list[Filed] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)
    # Addresses whose approval waits for their fault's phase, so the fault meets its job.
    held: set[str] = field(default_factory=set)

    @property
    def phase(self) -> str:
        return self.phases[-1].name if self.phases and self.phases[-1].ended is None else "load"


def http(method: str, url: str, body: dict | None = None, *, headers=None, timeout=30.0):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - our own URL
    request.add_header("Content-Type", "application/json")
    request.add_header("Accept-Language", "en")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, {}
    except OSError as exc:
        return 0, {"error": type(exc).__name__}


def client_ip(n: int) -> str:
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def file_one(run: Run, n: int, email_address: str, kind: str, approve: bool) -> None:
    body = {
        "organisation": ERASE_ORG,
        "type": kind,
        "email": email_address,
        "full_name": "Chaos Person",
        "language": "en",
    }
    if kind == "erasure":
        body["scope"] = "all"
    if kind == "access":
        body["format"] = "json"
    started = time.monotonic()
    status, answer = http(
        "POST", f"{run.base}/api/v1/requests", body, headers={"X-Forwarded-For": client_ip(n)}
    )
    filed = Filed(
        n=n,
        email=email_address,
        kind=kind,
        phase=run.phase,
        started=started,
        latency=time.monotonic() - started,
        status=status,
        reference=answer.get("reference", "") if status == 201 else "",
        approve=approve,
    )
    if status != 201 and not filed.phase.startswith("PostgreSQL"):
        run.errors.append(f"submit {n}: {status} {answer}")
    with run.lock:
        run.filed.append(filed)


def load(run: Run, total: int, rate: float, special: list[tuple[str, str]]) -> None:
    """File `total` requests at `rate` per second; `special` ((email, kind)) first, spread out."""
    interval = 1.0 / rate
    spacing = max(1, total // (len(special) + 1))
    start = time.monotonic()
    threads: list[threading.Thread] = []
    queue = list(special)
    for n in range(total):
        if run.stop.is_set():
            break
        if queue and n % spacing == spacing // 2:
            address, kind = queue.pop(0)
            approve = True
        else:
            address, kind, approve = f"p{n}@chaos.example.org", ("erasure", "access")[n % 2], False
        thread = threading.Thread(target=file_one, args=(run, n, address, kind, approve))
        thread.start()
        threads.append(thread)
        threads = [t for t in threads if t.is_alive()]
        delay = start + (n + 1) * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    for thread in threads:
        thread.join()


def mail_texts(mail_dir: Path):
    """(recipient, plain-text body) of every e-mail written so far."""
    if not mail_dir.is_dir():
        return
    for path in sorted(mail_dir.iterdir()):
        for raw in path.read_text(errors="replace").split("-" * 79):
            if not raw.strip():
                continue
            message = email.message_from_string(raw.strip())
            to = (message.get("To") or "").strip().lower()
            for part in message.walk():
                if part.get_content_type() == "text/plain":
                    payload = part.get_payload(decode=True) or b""
                    yield to, payload.decode("utf-8", "replace")
                    break


def mail_codes(mail_dir: Path, seen: dict[str, float]) -> dict[str, list[str]]:
    """{recipient: [code, ...]} of every verification e-mail written so far."""
    codes: dict[str, list[str]] = {}
    for to, text in mail_texts(mail_dir):
        if match := CODE_LINE.search(text):
            codes.setdefault(to, []).append(match.group(1))
    return codes


def mail_links(mail_dir: Path) -> dict[str, int]:
    """{recipient: number of confirmation e-mails (with a status link)} written so far."""
    links: dict[str, int] = {}
    for to, text in mail_texts(mail_dir):
        if LINK_LINE.search(text):
            links[to] = links.get(to, 0) + 1
    return links


def verifier(run: Run, approvers: list) -> None:
    """Verify every filed request once its code arrived; approve the special ones."""
    seen: dict[str, float] = {}
    while not run.stop.is_set():
        codes = mail_codes(run.mail_dir, seen)
        with run.lock:
            pending = [f for f in run.filed if f.reference and not f.verified]
        for filed in pending:
            code = (codes.get(filed.email) or [None])[-1]
            if code is None or code in filed.tried:
                continue
            status, answer = http(
                "POST",
                f"{run.base}/api/v1/requests/{filed.reference}/verify",
                {"code": code},
                headers={"X-Forwarded-For": client_ip(filed.n)},
            )
            if status == 200:
                filed.verified = True
            elif status == 400 and answer.get("error", {}).get("code") == "code_expired":
                filed.tried.add(code)  # wait for a newer e-mail
                run.errors.append(f"verify {filed.reference}: the newest code e-mailed is void")
            elif status != 0 and status < 500:
                run.errors.append(f"verify {filed.reference}: {status} {answer}")
                filed.verified = True  # do not retry a refusal
        with run.lock:
            to_approve = [
                f
                for f in run.filed
                if f.approve and f.verified and not f.approved and f.email not in run.held
            ]
        for filed in to_approve:
            filed.approved = approve(run, approvers, filed.reference)
        with run.lock:
            plans = [
                f for f in run.filed if f.kind == "erasure" and f.approved and not f.plan_approved
            ]
        for filed in plans:
            filed.plan_approved = approve(run, approvers, filed.reference, "plan/approve")
        time.sleep(0.5)


def approve(run: Run, approvers: list, reference: str, action: str = "approve") -> bool:
    """Approve over the staff API: an approver's token and a TOTP code not used before."""
    from django_otp.oath import totp

    for approver in approvers:
        step = int(time.time() // approver["device"].step)
        if approver.get("last_step") == step:
            continue  # one code per 30 s per device
        device = approver["device"]
        code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
        approver["last_step"] = step
        status, answer = http(
            "POST",
            f"{run.base}/api/v1/staff/requests/{reference}/{action}",
            {"code": code},
            headers={"Authorization": f"Bearer {approver['token']}"},
        )
        if status == 200:
            log(f"{action}: {reference}")
            return True
        if status == 409 and action == "plan/approve":
            return False  # no plan yet: the worker is making it
        if status not in (0, 403) and status < 500:  # 5xx, no answer, wrong code: again
            run.errors.append(f"approve {reference}: {status} {answer}")
            return True  # do not retry a refusal
        return False
    return False


# --- the stack ----------------------------------------------------------------------
class Chaos:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.port = 0
        self.supervisor = None

    def seed(self) -> dict:
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from bench.access_package import subject_with_records
        from requests_app.services.staff_auth import api_token_issue
        from retention.models import DataSubject, Organisation, RetentionRule, StaffMembership
        from retention.services.expiry import records_refresh

        started = time.monotonic()
        special = [("big@example.se", "erasure", subject_with_records(self.args.big, "big"))]
        for i in range(self.args.small_erasures):
            special.append(
                (f"erase{i}@example.se", "erasure", subject_with_records(50, f"erase{i}"))
            )
        # The package build the worker is killed during: large enough to take a while.
        special.append(
            ("package@example.se", "access", subject_with_records(self.args.big // 2, "package"))
        )
        for i in range(self.args.small_packages):
            special.append(
                (f"access{i}@example.se", "access", subject_with_records(50, f"access{i}"))
            )
        org = Organisation.objects.get(slug=SWEEP_ORG)
        rule = RetentionRule.objects.filter(organisation=org).order_by("key").first()
        subject = DataSubject.objects.create(organisation=org, external_id="chaos-sweep")
        with connection.cursor() as cursor:
            # Half the records collected long ago (expired), half today (kept).
            cursor.execute(
                """
                INSERT INTO retention_record (
                    organisation_id, subject_id, category_id, purpose_id, rule_id, external_id,
                    data, source, source_detail, collected_at, last_contact_at,
                    contract_ended_at, purpose_ended_at, settled_at, expires_at, restricted_at,
                    restriction_ground, anonymised_at, created_at, updated_at)
                SELECT %(org)s, %(subject)s, c.id, p.id, NULL, 'sweep-' || g,
                       jsonb_build_object('n', g), 'provided', '',
                       CASE WHEN g %% 2 = 0 THEN now() - interval '20 years' ELSE now() END,
                       CASE WHEN g %% 2 = 0 THEN now() - interval '20 years' ELSE now() END,
                       CASE WHEN g %% 2 = 0 THEN now() - interval '20 years' ELSE NULL END,
                       CASE WHEN g %% 2 = 0 THEN now() - interval '20 years' ELSE NULL END,
                       NULL, NULL, NULL, '', NULL, now(), now()
                  FROM generate_series(1, %(n)s) g
                  JOIN LATERAL (SELECT id, row_number() OVER (ORDER BY key) - 1 AS i,
                                       count(*) OVER () AS total
                                  FROM retention_datacategory
                                 WHERE organisation_id = %(org)s) c ON c.i = g %% c.total
                  JOIN LATERAL (SELECT id FROM retention_purpose
                                 WHERE organisation_id = %(org)s
                                 ORDER BY (id + g) %% 5, id LIMIT 1) p ON true
                """,
                {"org": org.pk, "subject": subject.pk, "n": self.args.sweep_records},
            )
        records_refresh(organisation=org)
        assert rule is not None
        approvers = []
        framsteget = Organisation.objects.get(slug=ERASE_ORG)
        for i in range(4):
            user = get_user_model().objects.create_user(username=f"chaos-approver-{i}")
            StaffMembership.objects.create(user=user, organisation=framsteget, role="approver")
            device = TOTPDevice.objects.create(user=user, name="TOTP", confirmed=True)
            raw, _token = api_token_issue(user=user, name="chaos")
            approvers.append({"token": raw, "device": device})
        log(f"seeded in {time.monotonic() - started:.1f} s")
        return {"special": special, "approvers": approvers, "sweep_org": org.pk}

    def spawn_stack(self, stack: BenchStack) -> None:
        from portal.embedded import free_port
        from portal.supervisor import Supervisor

        self.port = free_port()
        env = {**os.environ, **stack.env}
        sup = Supervisor(lambda line: log(f"supervisor: {line}"), cwd=BASE_DIR)
        for service in stack.services:
            name = "PostgreSQL" if hasattr(service, "socket_dir") else "Redis"
            sup.add_service(name, service)
        stack.services.clear()  # the supervisor stops them now
        var = Path(stack.env["VAR_DIR"])
        var.mkdir(parents=True, exist_ok=True)
        sup.add_process(
            "web",
            [
                str(BIN / "gunicorn"),
                "portal.wsgi",
                "--config",
                "python:portal.gunicorn_conf",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.args.web_workers),
                "--timeout",
                "60",
            ],
            env=env,
        )
        worker = [str(BIN / "celery"), "-A", "portal", "worker", "--loglevel", "WARNING"]
        worker += ["--concurrency", "2", "--without-mingle", "--without-gossip"]
        sup.add_process("worker", worker, env=env)
        beat = [str(BIN / "celery"), "-A", "portal", "beat", "--loglevel", "WARNING"]
        sup.add_process("beat", [*beat, "--schedule", str(var / "celerybeat-schedule")], env=env)
        self.supervisor = sup
        self.stop_loop = threading.Event()
        self.loop = threading.Thread(target=self._supervise, daemon=True)
        self.loop.start()

    def _supervise(self) -> None:
        while not self.stop_loop.is_set():
            with contextlib.suppress(Exception):
                self.supervisor.check()
            time.sleep(0.2)

    def healthy(self) -> bool:
        status, _ = http("GET", f"http://127.0.0.1:{self.port}/healthz", timeout=5)
        return status == 200

    def wait(self, condition, timeout: float, what: str) -> float:
        started = time.monotonic()
        while not condition():
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{what}: not within {timeout:.0f} s")
            time.sleep(0.1)
        return time.monotonic() - started

    # --- faults -----------------------------------------------------------------
    def service(self, name: str):
        piece = self.supervisor._pieces[name]
        return piece

    def pid(self, name: str) -> int:
        return self.supervisor.processes[name].pid


def fingerprint(org_id: int) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*), md5(coalesce(string_agg(
                       r.external_id || ':' || r.data::text || ':' ||
                       coalesce(r.expires_at::text, '-') || ':' || (r.anonymised_at IS NULL)::text,
                       ',' ORDER BY r.external_id), ''))
              FROM retention_record r WHERE r.organisation_id = %s
            """,
            [org_id],
        )
        count, digest = cursor.fetchone()
    return {"records": count, "md5": digest}


def inline_sweep(url: str, org_id: int, cutoff: str) -> dict:
    """In a child process: an undisturbed sweep of the copy at the same cutoff."""
    code = (
        "import django, json, datetime as dt; django.setup();"
        "from retention.models import Organisation;"
        "from retention.services.sweeps import sweep_run_inline;"
        "import bench.chaos as c;"
        f"org = Organisation.objects.get(pk={org_id});"
        f"sweep_run_inline(organisation=org, now=dt.datetime.fromisoformat({cutoff!r}));"
        f"print(json.dumps(c.fingerprint({org_id})))"
    )
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        env={**os.environ, "DATABASE_URL": url},
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=5.0, help="requests filed per second")
    parser.add_argument("--big", type=int, default=50_000, help="records of the big erasure")
    parser.add_argument("--sweep-records", type=int, default=200_000)
    parser.add_argument("--sweep-batch", type=int, default=5000, help="rows per sweep batch")
    parser.add_argument("--freeze", type=float, default=30.0, help="seconds Redis is frozen")
    parser.add_argument("--small-erasures", type=int, default=4)
    parser.add_argument("--small-packages", type=int, default=4)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--drain", type=float, default=600.0, help="seconds to wait for the end")
    parser.add_argument("--results", default=str(BASE_DIR / "bench" / "results" / "chaos.json"))
    args = parser.parse_args(argv)

    # Short leases so that what a fault interrupts is picked up within the run.
    os.environ.update(
        {
            "TRUSTED_PROXIES": "127.0.0.1",
            "CELERY_VISIBILITY_TIMEOUT": "20",
            "OUTBOX_REDELIVER_AFTER": "30",
            "OUTBOX_RELAY_INTERVAL": "5",
            "JOB_LEASE_SECONDS": "15",
            "JOB_RECLAIM_INTERVAL": "5",
            "JOB_BATCH_SIZE": "500",
            "JOB_BATCH_PAUSE_SECONDS": "0.2",  # an erasure long enough to be killed during
            "SWEEP_LEASE_SECONDS": "15",
            "SWEEP_PARTS": "4",
            "SWEEP_BATCH_SIZE": str(args.sweep_batch),
        }
    )
    with BenchStack("chaos") as stack:
        stack.env.update({k: os.environ[k] for k in os.environ if k in _CHAOS_ENV})
        return Chaos(args).execute(stack)


_CHAOS_ENV = {
    "TRUSTED_PROXIES",
    "CELERY_VISIBILITY_TIMEOUT",
    "OUTBOX_REDELIVER_AFTER",
    "OUTBOX_RELAY_INTERVAL",
    "JOB_LEASE_SECONDS",
    "JOB_RECLAIM_INTERVAL",
    "JOB_BATCH_PAUSE_SECONDS",
    "JOB_BATCH_SIZE",
    "SWEEP_LEASE_SECONDS",
    "SWEEP_PARTS",
    "SWEEP_BATCH_SIZE",
}


def _execute(self: Chaos, stack: BenchStack) -> int:
    from django.db import connections

    from bench.common import db_url, machine

    seeded = self.seed()
    copy = f"{stack.name}_copy"
    connections.close_all()
    stack.admin(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
    stack.admin(f'CREATE DATABASE "{copy}" TEMPLATE "{stack.name}"')
    copy_url = db_url(stack.env["DATABASE_URL"], copy)
    try:
        return _chaos(self, stack, seeded, copy_url, machine)
    finally:
        if hasattr(self, "stop_loop"):
            self.stop_loop.set()
            self.loop.join(10)  # no restart races the shutdown
        if self.supervisor is not None:
            connections.close_all()
            with contextlib.suppress(Exception):
                stack.admin(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
            with contextlib.suppress(Exception):
                stack.admin(f'DROP DATABASE IF EXISTS "{stack.name}" WITH (FORCE)')
            stack.created = False
            self.supervisor.stop()  # the processes, then the servers; BenchStack removes tmp
        stack.close()


Chaos.execute = _execute


def _chaos(self: Chaos, stack: BenchStack, seeded: dict, copy_url: str, machine) -> int:
    from django.db import close_old_connections

    from requests_app.models import DataPackage, OutboxMessage, SubjectRequest
    from retention.models import RecordStoreJob, SweepRun
    from retention.tasks import sweep_organisation

    args = self.args
    self.spawn_stack(stack)
    self.wait(self.healthy, 120, "the stack to start")
    log(f"stack up on port {self.port}")
    run = Run(base=f"http://127.0.0.1:{self.port}", mail_dir=Path(stack.env["VAR_DIR"]) / "mail")
    special = [(address, kind) for address, kind, _subject in seeded["special"]]
    run.held = {"big@example.se", "package@example.se"}
    loader = threading.Thread(target=load, args=(run, args.requests, args.rate, special))
    checker = threading.Thread(target=verifier, args=(run, seeded["approvers"]), daemon=True)
    started = time.monotonic()
    loader.start()
    checker.start()

    def phase(name: str) -> Phase:
        entry = Phase(name, time.monotonic())
        run.phases.append(entry)
        log(f"fault: {name}")
        return entry

    def end(entry: Phase, recovered) -> None:
        entry.ended = time.monotonic()
        entry.recovered_after = recovered() if recovered else 0.0
        log(f"  recovered after {entry.recovered_after:.1f} s")

    def healthy_again(entry: Phase):
        return lambda: entry_time(entry, lambda: self.wait(self.healthy, 180, "health"))

    def entry_time(entry: Phase, waiter) -> float:
        waiter()
        return time.monotonic() - entry.started

    def request_of(address: str):
        close_old_connections()
        return SubjectRequest.objects.filter(email=address).first()

    try:
        time.sleep(10)  # load before the first fault
        # 1. Redis frozen.
        redis = self.supervisor._pieces["Redis"]
        redis_service = stack_service(self, "Redis")
        p = phase("Redis frozen (SIGSTOP)")
        os.kill(redis_service._process.pid, signal.SIGSTOP)
        self.supervisor.paused.add("Redis")  # frozen is not dead
        time.sleep(args.freeze)
        os.kill(redis_service._process.pid, signal.SIGCONT)
        self.supervisor.paused.discard("Redis")
        end(p, healthy_again(p))
        time.sleep(5)
        # 2. Redis killed, restarted empty by the supervisor.
        p = phase("Redis killed, restarted empty")
        os.kill(redis_service._process.pid, signal.SIGKILL)
        self.wait(lambda: self.supervisor.restarts("Redis") >= 1, 60, "Redis restart")
        end(p, healthy_again(p))
        del redis
        # 3. The worker killed during the big erasure.
        p = phase("worker SIGKILL during erasure")
        run.held.discard("big@example.se")

        def big_job_running():
            close_old_connections()
            request = request_of("big@example.se")
            return (
                request is not None
                and RecordStoreJob.objects.filter(
                    reference=request.reference, state="running", progress__gt=0
                ).exists()
            )

        def big_done():
            request = request_of("big@example.se")
            return (
                request is not None
                and RecordStoreJob.objects.filter(
                    reference=request.reference, state="completed"
                ).exists()
            )

        self.wait(lambda: big_job_running() or big_done(), args.drain, "the big erasure")
        if big_done():
            p.note = "the erasure finished before the kill"
        os.killpg(self.pid("worker"), signal.SIGKILL)

        end(p, lambda: entry_time(p, lambda: self.wait(big_done, args.drain, "the big erasure")))
        # 4. The worker killed during a package build.
        p = phase("worker SIGKILL during package build")
        run.held.discard("package@example.se")

        def building():
            request = request_of("package@example.se")
            return (
                request is not None
                and DataPackage.objects.filter(request=request, state="building").exists()
            )

        def built():
            request = request_of("package@example.se")
            return DataPackage.objects.filter(request=request, state="ready").exists()

        self.wait(lambda: building() or built(), args.drain, "the package build")
        if built():
            p.note = "the package was built before the kill"
        os.killpg(self.pid("worker"), signal.SIGKILL)

        end(p, lambda: entry_time(p, lambda: self.wait(built, args.drain, "the package")))
        # 5. PostgreSQL fast shutdown during a sweep (restarted by the supervisor).
        p = phase("PostgreSQL restart during sweep")
        sweep_organisation.delay(seeded["sweep_org"], trigger="command")

        def sweeping():
            close_old_connections()
            return SweepRun.objects.filter(
                organisation_id=seeded["sweep_org"], processed__gt=0, status="running"
            ).exists()

        def swept():
            close_old_connections()
            return SweepRun.objects.filter(
                organisation_id=seeded["sweep_org"], status="completed"
            ).exists()

        self.wait(lambda: sweeping() or swept(), 120, "the sweep to start")
        if swept():
            p.note = "the sweep finished before the restart"
        pg = stack_service(self, "PostgreSQL")
        from pgserver._commands import pg_ctl

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pg.data_dir, user=pg._server.system_user)
        self.wait(lambda: self.supervisor.restarts("PostgreSQL") >= 1, 60, "PostgreSQL restart")

        end(p, lambda: entry_time(p, lambda: self.wait(swept, args.drain, "the sweep")))
        # 6. Beat killed and restarted.
        p = phase("beat SIGKILL")
        os.killpg(self.pid("beat"), signal.SIGKILL)
        self.wait(lambda: self.supervisor.restarts("beat") >= 1, 60, "beat restart")
        end(p, healthy_again(p))
    except Exception as exc:
        run.errors.append(f"fault schedule: {type(exc).__name__}: {exc}")
        log(f"fault schedule failed: {exc}")
    loader.join()
    load_seconds = time.monotonic() - started
    log(f"load done: {len(run.filed)} requests in {load_seconds:.0f} s; draining")

    # --- drain ---------------------------------------------------------------------
    def drained() -> bool:
        close_old_connections()
        with run.lock:
            waiting = [f for f in run.filed if f.reference and not f.verified]
            approving = [
                f
                for f in run.filed
                if f.approve and not (f.approved and (f.kind != "erasure" or f.plan_approved))
            ]
        return (
            not waiting
            and not approving
            and not OutboxMessage.objects.filter(
                completed_at__isnull=True, gave_up_at__isnull=True
            ).exists()
            and not RecordStoreJob.objects.filter(state__in=["approved", "running"]).exists()
            and not SweepRun.objects.filter(status="running").exists()
        )

    try:
        self.wait(drained, args.drain, "the work to drain")
    except TimeoutError as exc:
        run.errors.append(str(exc))
    run.stop.set()
    checker.join(10)

    # --- checks --------------------------------------------------------------------
    close_old_connections()
    results = check(run, seeded, copy_url)
    results["load_seconds"] = round(load_seconds)
    results["parameters"] = vars(args)
    results["machine"] = machine()
    print(table(results), flush=True)
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(json.dumps(results, indent=2, default=str) + "\n")
    log(f"results written to {args.results}")
    for line in results["failures"]:
        log(f"FAILED: {line}")
    return 1 if results["failures"] else 0


def stack_service(self: Chaos, name: str):
    """The embedded service object the supervisor keeps under `name`."""
    piece = self.supervisor._pieces[name]
    return piece.stop.__self__


def check(run: Run, seeded: dict, copy_url: str) -> dict:
    from collections import Counter

    from requests_app.models import DataPackage, OutboxMessage, SubjectRequest
    from retention.audit import audit_chain_verify
    from retention.models import AuditEntry, RecordStoreJob, SweepRun

    failures = list(run.errors)
    ok = [f for f in run.filed if f.status == 201]
    stored = set(
        SubjectRequest.objects.filter(reference__in=[f.reference for f in ok]).values_list(
            "reference", flat=True
        )
    )
    codes = mail_codes(run.mail_dir, {})
    mails = Counter({address: len(c) for address, c in codes.items()})
    links = mail_links(run.mail_dir)
    rows = []
    phases = [Phase("no fault", 0.0)] + run.phases
    for entry in phases:
        mine = [f for f in run.filed if f.phase == (entry.name if entry.started else "load")]
        filed_ok = [f for f in mine if f.status == 201]
        lost = [f for f in filed_ok if f.reference not in stored or mails[f.email] == 0]
        duplicated = [f for f in filed_ok if mails[f.email] > 1]
        latencies = [f.latency for f in mine] or [0.0]
        rows.append(
            {
                "fault": entry.name,
                "filed": len(mine),
                "answered_201": len(filed_ok),
                "lost": len(lost),
                "duplicated": len(duplicated),
                "recovered_s": round(entry.recovered_after, 1)
                if entry.recovered_after is not None
                else None,
                "p99_submit_ms": round(percentile(latencies, 0.99) * 1000),
                "note": entry.note,
            }
        )
        if lost:
            failures.append(f"{entry.name}: {len(lost)} lost, e.g. {lost[0].reference}")
        if duplicated:
            failures.append(f"{entry.name}: {len(duplicated)} codes e-mailed more than once")
        confirmed = [f for f in filed_ok if f.verified]
        twice = [f for f in confirmed if links.get(f.email, 0) > 1]
        never = [f for f in confirmed if links.get(f.email, 0) == 0]
        if twice:
            failures.append(f"{entry.name}: {len(twice)} confirmations e-mailed more than once")
        if never:
            failures.append(f"{entry.name}: {len(never)} verified requests got no confirmation")
        if entry.started and percentile(latencies, 0.99) > 2.0:
            failures.append(f"{entry.name}: p99 submit latency over 2 s")
    # While PostgreSQL is down a submission cannot be stored and is not acknowledged (it is
    # counted in the table); under every other fault each one must be answered 201.
    not_201 = [f for f in run.filed if f.status != 201 and not f.phase.startswith("PostgreSQL")]
    if not_201:
        failures.append(f"{len(not_201)} submissions not answered 201")
    # ... and there the answer says so: 503 with Retry-After, never a bare 500.
    not_503 = [f for f in run.filed if f.status not in (201, 503)]
    if not_503:
        failures.append(f"{len(not_503)} submissions answered {not_503[0].status}")
    # Erasures: completed exactly once, one execution audit entry each.
    erasures = {}
    for address, kind, _subject in seeded["special"]:
        request = SubjectRequest.objects.filter(email=address).first()
        if request is None:
            failures.append(f"{address}: its request was never filed")
            continue
        if kind == "erasure":
            jobs = list(RecordStoreJob.objects.filter(reference=request.reference))
            completed = AuditEntry.objects.filter(
                action="retention.erasure.completed",
                object_type="job",
                object_id__in=[str(j.pk) for j in jobs],
            ).count()
            erasures[request.reference] = {
                "jobs": len(jobs),
                "states": [j.state for j in jobs],
                "completed_entries": completed,
            }
            if len(jobs) != 1 or jobs[0].state != "completed" or completed != 1:
                failures.append(f"erasure {request.reference}: {erasures[request.reference]}")
        else:
            if not DataPackage.objects.filter(request=request, state="ready").exists():
                failures.append(f"access {request.reference}: no package")
    # The sweep against an undisturbed one at the same cutoff.
    sweep = {}
    run_row = SweepRun.objects.filter(organisation_id=seeded["sweep_org"]).first()
    if run_row is None or run_row.status != "completed":
        failures.append(f"sweep: {run_row.status if run_row else 'never started'}")
    else:
        sweep = {
            "disturbed": fingerprint(seeded["sweep_org"]),
            "undisturbed": inline_sweep(copy_url, seeded["sweep_org"], run_row.cutoff.isoformat()),
        }
        if sweep["disturbed"] != sweep["undisturbed"]:
            failures.append(f"sweep fingerprints differ: {sweep}")
    chain = audit_chain_verify()
    if not chain.ok:
        failures.append(f"audit chain broken: {chain}")
    stuck = {
        "outbox": OutboxMessage.objects.filter(completed_at__isnull=True).count(),
        "jobs": RecordStoreJob.objects.filter(state__in=["approved", "running", "failed"]).count(),
        "sweeps": SweepRun.objects.exclude(status="completed").count(),
    }
    if any(stuck.values()):
        failures.append(f"left unfinished: {stuck}")
    return {
        "date": dt.date.today().isoformat(),
        "requests": len(run.filed),
        "rows": rows,
        "erasures": erasures,
        "sweep": sweep,
        "audit_chain_ok": chain.ok,
        "stuck": stuck,
        "failures": failures,
    }


def table(results: dict) -> str:
    head = ("fault", "filed", "201", "lost", "dup", "recovered", "p99 submit")
    lines = [
        f"{head[0]:<38} {head[1]:>6} {head[2]:>6} {head[3]:>5} {head[4]:>4} {head[5]:>10} "
        f"{head[6]:>11}"
    ]
    for row in results["rows"]:
        recovered = "-" if not row["recovered_s"] else f"{row['recovered_s']:.1f} s"
        lines.append(
            f"{row['fault']:<38} {row['filed']:>6} {row['answered_201']:>6} {row['lost']:>5} "
            f"{row['duplicated']:>4} {recovered:>10} {row['p99_submit_ms']:>8} ms"
        )
    once = all(e["completed_entries"] == 1 for e in results["erasures"].values())
    sweep = results["sweep"]
    equal = bool(sweep) and sweep["disturbed"] == sweep["undisturbed"]
    lines.append(
        f"erasures exactly once: {once}; sweep fingerprint equal: {equal}; "
        f"audit chain ok: {results['audit_chain_ok']}; left unfinished: {results['stuck']}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
