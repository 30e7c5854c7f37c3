"""Benchmark of the retention sweep (issue 6, "Benchmark").

    .venv/bin/python bench/retention_sweep.py [--records 1000000]

In one run:

1. Uses DATABASE_URL / REDIS_URL when set, else starts an embedded PostgreSQL
   and Redis (portal.embedded) in a throwaway directory.
2. Creates the database `dsr_bench_template`, migrates it, loads the five
   policies and generates N records with set-based SQL (generate_series):
   subjects (N/10), a realistic mix of categories, purposes and rules, event
   times spread so that about half of the records are expired at the
   benchmark's cutoff, disclosures and a few legal holds. Rules and expiries
   come from `records_refresh`, then VACUUM FULL ANALYZE.
3. Copies that database (CREATE DATABASE ... TEMPLATE) for every variant, so
   each starts from identical data:
   a. the sweep, inline, in one separate worker process
      (`sweep_run_inline` for every organisation, fixed cutoff, default batch
      size): wall time, rows, peak RSS growth after django.setup();
   b. the physical floor: the same changes as plain set-based SQL in one
      transaction (see floor_sql);
   c. a per-row ORM loop (`delete()` / `save()`) over a sample;
   d. the sweep through real Celery workers (prefork, 1, 2 and 4 processes,
      `retention.tasks.sweep_organisation` for every organisation).
4. Prints the figures against the issue's targets and writes them to
   `bench/results/retention_sweep.json`.

Everything it creates (databases, servers, worker processes) is removed at
the end, also on Ctrl-C or an error.
"""

# SQL assembled from constant fragments; every value is a query parameter.
# ruff: noqa: S608

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parents[1]
RESULTS = BASE_DIR / "bench" / "results" / "retention_sweep.json"
TEMPLATE_DB = "dsr_bench_template"
COPY_PREFIX = "dsr_bench_"
MB = 1024 * 1024

# Issue 6's targets.
TARGET_RAW_RATIO = 1.5
TARGET_RSS_MB = 50
TARGET_ORM_SPEEDUP = 50

# The record mix: (organisation slug, share of N), then per organisation
# (category, purpose, share, open, expired, source): `open` is the share whose
# starting event has not happened (contract running, invoice unpaid), `expired`
# the share of the others that is past its expiry at the cutoff.
ORGANISATIONS = {
    "framsteget": 0.50,
    "prokompetens": 0.15,
    "coachen": 0.10,
    "prognoscentret": 0.15,
    "expektra": 0.10,
}
MIX = {
    "framsteget": [
        ("ip_address", "information_security", 0.30, 0.0, 0.85, "observed"),
        ("invoice", "billing", 0.25, 0.25, 0.68, "derived"),
        ("customer_contact", "service_delivery", 0.10, 0.50, 0.68, "provided"),
        ("services", "service_delivery", 0.10, 0.50, 0.68, "provided"),
        ("fault_finding", "service_development", 0.08, 0.0, 0.68, "provided"),
        ("credit_check", "credit_check", 0.07, 0.0, 0.68, "third_party"),
        ("demographics", "direct_marketing", 0.05, 0.50, 0.68, "derived"),
        ("communications", "customer_service", 0.05, 0.50, 0.68, "provided"),
    ],
    "prokompetens": [
        ("contact", "course_access", 0.30, 0.40, 0.68, "provided"),
        ("course_progress", "course_access", 0.30, 0.40, 0.68, "observed"),
        ("invoicing", "business_transaction", 0.20, 0.40, 0.68, "derived"),
        ("usage_statistics", "usage_statistics", 0.20, 0.40, 0.68, "observed"),
    ],
    "coachen": [
        ("contact", "contract", 0.30, 0.40, 0.68, "provided"),
        ("recordings", "contract", 0.20, 0.40, 0.68, "provided"),
        ("purchases", "contract", 0.20, 0.40, 0.68, "derived"),
        ("health", "coaching_health", 0.10, 0.40, 0.68, "provided"),
        ("correspondence", "enquiries", 0.20, 0.0, 0.68, "provided"),
    ],
    "prognoscentret": [
        ("prospect", "prospects", 0.40, 0.30, 0.68, "third_party"),
        ("contact", "contract", 0.20, 0.30, 0.68, "provided"),
        ("course_attendance", "contract", 0.20, 0.30, 0.68, "observed"),
        ("survey", "surveys", 0.10, 0.30, 0.68, "provided"),
        ("customer_web_activity", "quality_development", 0.10, 0.30, 0.68, "observed"),
    ],
    "expektra": [
        ("client_contact", "customer_register", 0.50, 0.0, 0.0, "provided"),
        ("login", "product_login", 0.30, 0.0, 0.0, "provided"),
        ("crm_marketing", "direct_marketing", 0.20, 0.0, 0.0, "provided"),
    ],
}
HELD_CATEGORY = ("framsteget", "communications")
HELD_SUBJECTS_PER_ORG = 3
EVENT_COLUMN = {
    "collected": "collected_at",
    "last_contact": "last_contact_at",
    "contract_end": "contract_ended_at",
    "purpose_end": "purpose_ended_at",
    "settled": "settled_at",
}

# Expired and not held (what a sweep at %(cutoff)s acts on), as in sweeps.py.
SWEEPABLE = """
r.expires_at IS NOT NULL AND r.expires_at <= %(cutoff)s
AND NOT EXISTS (
    SELECT 1 FROM retention_legalhold h
     WHERE h.organisation_id = r.organisation_id
       AND h.lifted_at IS NULL
       AND (h.ends_at IS NULL OR h.ends_at > %(now)s)
       AND (h.subject_id IS NULL OR h.subject_id = r.subject_id)
       AND (h.category_id IS NULL OR h.category_id = r.category_id)
)
"""


def floor_sql() -> list[tuple[str, str]]:
    """The physical floor: what the sweep does to the same rows, as plain set-based
    statements in ONE transaction (no batches, no keyset, no locking), built from the
    sweep's own fragments so both mean the same: the plan per record (reduce only records
    that hold a kept field, with the overriding rule's date; delete the others; leave policy
    errors), then the subjects left with no record. Needs Django set up (child process)."""
    from retention.services.sweep_sql import (
        ART18_FILTER,
        PLAN_SQL,
        SUBJECT_DEPENDENTS,
        _subject_free_sql,
    )

    columns = (
        "r.id, r.rule_id, r.expires_at, r.subject_id, r.organisation_id, r.data, "
        "r.collected_at, r.last_contact_at, r.contract_ended_at, r.purpose_ended_at, "
        "r.settled_at"
    )
    steps = [
        (
            "target",
            f"""
            CREATE TEMP TABLE floor_target ON COMMIT DROP AS
            WITH batch AS (
                SELECT {columns} FROM retention_record r WHERE {SWEEPABLE} AND {ART18_FILTER}
            )
            {PLAN_SQL}
            """,
        ),
        (
            "emptied",
            f"""
            CREATE TEMP TABLE floor_emptied ON COMMIT DROP AS
            SELECT s.id FROM retention_datasubject s
             WHERE s.id IN (SELECT subject_id FROM floor_target WHERE outcome = 'delete')
               AND NOT EXISTS (
                   SELECT 1 FROM retention_record x
                    WHERE x.subject_id = s.id
                      AND NOT EXISTS (SELECT 1 FROM floor_target p
                                       WHERE p.id = x.id AND p.outcome = 'delete'))
               AND {_subject_free_sql()}
            """,
        ),
        (
            "unlink",
            """
            UPDATE retention_disclosure d SET record_id = NULL
              FROM floor_target t
             WHERE d.record_id = t.id AND t.outcome = 'delete'
               AND d.subject_id NOT IN (SELECT id FROM floor_emptied)
            """,
        ),
        (
            "delete",
            """
            DELETE FROM retention_record r USING floor_target t
             WHERE r.id = t.id AND t.outcome = 'delete'
            """,
        ),
        (
            "reduce",
            """
            UPDATE retention_record r
               SET data = t.kept_data, rule_id = t.over_id, expires_at = t.kept_until,
                   updated_at = %(now)s
              FROM floor_target t
             WHERE r.id = t.id AND t.outcome = 'reduce'
            """,
        ),
        (
            "anonymise",
            """
            UPDATE retention_record r
               SET data = r.data - ARRAY(SELECT jsonb_array_elements_text(t.anonymise_fields)),
                   anonymised_at = %(now)s, expires_at = NULL, updated_at = %(now)s
              FROM floor_target t
             WHERE r.id = t.id AND t.outcome = 'anonymise'
            """,
        ),
        (
            "restrict",
            """
            UPDATE retention_record r
               SET restricted_at = COALESCE(r.restricted_at, %(now)s),
                   restriction_ground = 'retention', expires_at = NULL, updated_at = %(now)s
              FROM floor_target t
             WHERE r.id = t.id AND t.outcome = 'restrict'
            """,
        ),
    ]
    steps += [
        (table, f"DELETE FROM {table} t USING floor_emptied e WHERE t.subject_id = e.id")
        for table in SUBJECT_DEPENDENTS
    ]
    steps.append(
        (
            "subjects",
            "DELETE FROM retention_datasubject s USING floor_emptied e WHERE s.id = e.id",
        )
    )
    return steps


# The end state of a copy, without the timestamps of the run.
FINGERPRINT_SQL = """
SELECT count(*),
       md5(string_agg(r.id || ':' || coalesce(r.rule_id, 0) || ':'
                      || coalesce(r.expires_at::text, '-') || ':' || md5(r.data::text)
                      || ':' || coalesce(r.anonymised_at IS NOT NULL, false)
                      || ':' || r.restriction_ground, ',' ORDER BY r.id)),
       (SELECT count(*) FROM retention_disclosure WHERE record_id IS NULL),
       (SELECT count(*) FROM retention_datasubject),
       (SELECT count(*) FROM retention_subjectidentifier)
  FROM retention_record r
"""


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S}] {message}", flush=True)


def db_url(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def connect(url: str, autocommit: bool = True):
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = autocommit
    return conn


def rss_bytes(pid: int | None = None) -> int:
    import psutil

    return psutil.Process(pid).memory_info().rss


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark of this process (Linux)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss() -> int | None:
    """VmHWM of this process: its peak RSS since start or since reset_peak_rss()."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


class RssSampler:
    """The highest RSS of a set of processes, sampled every few milliseconds."""

    def __init__(self, pids_fn, interval: float = 0.02):
        self.pids_fn = pids_fn
        self.interval = interval
        self.peak: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            for pid in self.pids_fn():
                with contextlib.suppress(psutil.Error):
                    rss = psutil.Process(pid).memory_info().rss
                    self.peak[pid] = max(self.peak.get(pid, 0), rss)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


# --------------------------------------------------------------------------
# Child processes: each runs one variant against one copy (DATABASE_URL)
# --------------------------------------------------------------------------


def _child_setup() -> None:
    import django

    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()


def child_inline(cutoff: dt.datetime, batch_size: int) -> dict:
    """The sweep in this process, organisation after organisation."""
    _child_setup()
    from django.db import connection

    from retention.models import Organisation
    from retention.services.sweeps import sweep_run_inline

    orgs = list(Organisation.objects.order_by("slug"))
    connection.ensure_connection()
    rss0 = rss_bytes()
    hwm_reset = reset_peak_rss()
    me = os.getpid()
    runs = {}
    with RssSampler(lambda: [me]) as sampler:
        started = time.perf_counter()
        for org in orgs:
            t = time.perf_counter()
            run = sweep_run_inline(organisation=org, now=cutoff, batch_size=batch_size)
            runs[org.slug] = {
                "rss_after": rss_bytes(),
                "seconds": time.perf_counter() - t,
                "processed": run.processed,
                "status": run.status,
                "counts": run.rule_counts,
            }
        wall = time.perf_counter() - started
    peak_ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak = peak_rss() if hwm_reset else None
    sampled = sampler.peak.get(me, rss0)
    return {
        "seconds": wall,
        "processed": sum(r["processed"] for r in runs.values()),
        "runs": runs,
        "rss_after_setup": rss0,
        "rss_peak_sampled": sampled,
        "rss_peak_hwm": peak,
        "ru_maxrss_whole_process": peak_ru,
        # The kernel's high-water mark since the reset (exact), else sampled every 20 ms.
        "rss_growth": max(peak if peak is not None else sampled, sampled) - rss0,
    }


def child_floor(cutoff: dt.datetime) -> dict:
    """The physical floor: `floor_sql()` in one transaction, then the run-end pass over the
    subjects left with no record (one statement per organisation, as the sweep)."""
    _child_setup()
    from django.db import connection, transaction
    from django.utils import timezone

    from retention.models import Organisation
    from retention.services.sweep_sql import leftovers_sql

    org_ids = list(Organisation.objects.values_list("pk", flat=True))
    connection.ensure_connection()
    params = {"cutoff": cutoff, "now": timezone.now()}
    rows, steps = {}, {}
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for name, sql in floor_sql():
            t = time.perf_counter()
            cursor.execute(sql, params)
            rows[name] = cursor.rowcount
            steps[name] = time.perf_counter() - t
        t = time.perf_counter()
        for org_id in org_ids:
            cursor.execute(leftovers_sql(), {**params, "org": org_id})
        steps["leftovers"] = time.perf_counter() - t
    wall = time.perf_counter() - started
    return {
        "seconds": wall,
        "processed": rows["target"],
        "rows": rows,
        "steps": steps,
    }


def child_orm(cutoff: dt.datetime, sample: int) -> dict:
    """The per-row ORM loop on a sample of sweepable records."""
    _child_setup()
    from django.db import connection
    from django.utils import timezone

    from retention.models import Record, RetentionRule
    from retention.services.expiry import records_refresh

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT r.id FROM retention_record r WHERE {SWEEPABLE} "
            "ORDER BY md5(r.id::text) LIMIT %(sample)s",
            {"cutoff": cutoff, "now": timezone.now(), "sample": sample},
        )
        ids = [row[0] for row in cursor.fetchall()]
    overrider: dict[int, RetentionRule | None] = {}
    deleted = reduced = 0
    started = time.perf_counter()
    for record in Record.objects.filter(pk__in=ids).select_related(
        "rule", "organisation", "subject"
    ):
        rule_id = record.rule_id
        if rule_id not in overrider:
            overrider[rule_id] = (
                RetentionRule.objects.filter(overrides=rule_id).order_by("key").first()
            )
        keeper = overrider[rule_id]
        kept = {
            k: v
            for k, v in record.data.items()
            if keeper is not None and k in keeper.fields and v not in (None, "")
        }
        if kept:
            record.data = kept
            record.rule = keeper
            record.save()
            records_refresh(organisation=record.organisation, record_ids=[record.pk])
            reduced += 1
        else:
            subject = record.subject
            record.delete()  # the collector sets the disclosures' record to NULL
            if not subject.records.exists():
                subject.delete()  # identifiers, disclosures, ... cascade
            deleted += 1
    wall = time.perf_counter() - started
    return {"seconds": wall, "processed": deleted + reduced, "deleted": deleted, "reduced": reduced}


def run_child(mode: str, url: str, env: dict, *args: str) -> dict:
    proc = subprocess.run(  # noqa: S603 - this very script
        [sys.executable, __file__, "--child", mode, *args],
        env={**env, "DATABASE_URL": url},
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {mode} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="dsr-bench-"))
        self.services: list = []
        self.databases: list[str] = []
        self.processes: list[subprocess.Popen] = []
        self.results: dict = {}

    # -- services and databases -------------------------------------------

    def start_services(self) -> None:
        from portal.embedded import EmbeddedPostgres, EmbeddedRedis

        self.server_url = os.environ.get("DATABASE_URL", "")
        self.redis_url = os.environ.get("REDIS_URL", "")
        if not self.server_url:
            pg = EmbeddedPostgres(self.tmp / "pg", database="postgres")
            self.services.append(pg)
            self.server_url = pg.start()
            log(f"embedded PostgreSQL at {pg.socket_dir}")
        if not self.redis_url:
            redis = EmbeddedRedis(self.tmp / "redis", persistent=False)
            self.services.append(redis)
            self.redis_url = redis.start()
            log(f"embedded Redis at {self.redis_url}")
        self.admin_url = db_url(self.server_url, "postgres")
        from retention.keyring import SETTING_NAMES, hmac_key_generate

        self.child_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DEBUG": "false",  # DEBUG=true would keep every query in memory
            "SECRET_KEY": secrets.token_urlsafe(48),
            # DEBUG=false requires a key per keyring (retention.keyring).
            **{name: hmac_key_generate(kid="bench") for name in SETTING_NAMES.values()},
            "ALLOWED_HOSTS": "localhost",
            "PORTAL_BASE_URL": "http://localhost:8000",
            "VAR_DIR": str(self.tmp / "var"),
            "REDIS_URL": self.redis_url,
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(BASE_DIR),
        }

    def admin(self, sql: str, params=None) -> list:
        conn = connect(self.admin_url)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def drop(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.databases:
            self.databases.remove(name)

    def copy(self, name: str) -> str:
        name = COPY_PREFIX + name
        self.drop(name)
        t = time.perf_counter()
        self.databases.append(name)
        self.admin(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}" STRATEGY FILE_COPY')
        log(f"copied the template to {name} in {time.perf_counter() - t:.1f} s")
        return db_url(self.server_url, name)

    def cleanup(self) -> None:
        from portal.embedded import EmbeddedPostgres

        for proc in self.processes:
            stop_process(proc)
        self.processes.clear()
        if self.args.keep_template and not any(
            isinstance(s, EmbeddedPostgres) for s in self.services
        ):
            self.databases = [d for d in self.databases if d != TEMPLATE_DB]
        for name in list(self.databases):
            with contextlib.suppress(Exception):
                self.drop(name)
        for service in reversed(self.services):
            with contextlib.suppress(Exception):
                service.stop()
        self.services.clear()
        import shutil

        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- 1 + 2: the template ------------------------------------------------

    def build_template(self) -> None:
        self.drop(TEMPLATE_DB)
        self.databases.append(TEMPLATE_DB)
        self.admin(f'CREATE DATABASE "{TEMPLATE_DB}"')
        self.template_url = db_url(self.server_url, TEMPLATE_DB)
        for key, value in self.child_env.items():
            os.environ[key] = value
        os.environ["DATABASE_URL"] = self.template_url
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        t = time.perf_counter()
        call_command("migrate", verbosity=0)
        from retention.services.policies import policies_load

        policies_load()
        log(f"migrated and loaded the policies in {time.perf_counter() - t:.1f} s")
        self.cutoff = dt.datetime.now(dt.UTC).replace(microsecond=0)
        started = time.perf_counter()
        steps = self._generate()
        generation = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), count(*) FILTER (WHERE expires_at <= %s) FROM retention_record",
                [self.cutoff],
            )
            total, expired = cursor.fetchone()
            cursor.execute(
                f"SELECT count(*) FROM retention_record r WHERE {SWEEPABLE}",
                {"cutoff": self.cutoff, "now": self.cutoff},
            )
            sweepable = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM retention_datasubject")
            subjects = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM retention_disclosure")
            disclosures = cursor.fetchone()[0]
            cursor.execute("SELECT pg_database_size(current_database())")
            size = cursor.fetchone()[0]
            cursor.execute(
                "SELECT o.slug, rr.key, count(*), count(*) FILTER (WHERE r.expires_at <= %s) "
                "FROM retention_record r JOIN retention_organisation o ON o.id = r.organisation_id "
                "LEFT JOIN retention_retentionrule rr ON rr.id = r.rule_id "
                "GROUP BY 1, 2 ORDER BY 1, 2",
                [self.cutoff],
            )
            per_rule = [
                {"organisation": o, "rule": k, "records": n, "expired": e}
                for o, k, n, e in cursor.fetchall()
            ]
        connection.close()
        self.results["data"] = {
            "records": total,
            "expired": expired,
            "sweepable": sweepable,
            "held_expired": expired - sweepable,
            "subjects": subjects,
            "disclosures": disclosures,
            "database_bytes": size,
            "generation_seconds": generation,
            "generation_steps": steps,
            "cutoff": self.cutoff.isoformat(),
            "per_rule": per_rule,
        }
        log(
            f"generated {total:,} records ({expired:,} expired, {sweepable:,} sweepable, "
            f"{subjects:,} subjects, {disclosures:,} disclosures, {size / MB:,.0f} MB) "
            f"in {generation:.1f} s"
        )

    def _generate(self) -> dict:
        from django.db import connection

        from retention.models import (
            DataCategory,
            DataSubject,
            Organisation,
            Purpose,
            RetentionRule,
        )
        from retention.services.expiry import records_refresh
        from retention.services.holds import hold_place

        steps: dict[str, float] = {}
        n = self.args.records
        orgs = {o.slug: o for o in Organisation.objects.all()}
        cursor = connection.cursor()
        cursor.execute("SELECT setseed(0.42)")

        t = time.perf_counter()
        plan = []  # (org, n_records, n_subjects, first subject id)
        for slug, share in ORGANISATIONS.items():
            org = orgs[slug]
            n_org = max(1, round(n * share))
            n_sub = max(1, n_org // 10)
            cursor.execute(
                "INSERT INTO retention_datasubject "
                "(organisation_id, external_id, supplementary_statement, created_at, updated_at) "
                "SELECT %s, 'bs' || g, '', now(), now() FROM generate_series(1, %s) g",
                [org.pk, n_sub],
            )
            cursor.execute(
                "SELECT min(id), max(id), count(*) FROM retention_datasubject "
                "WHERE organisation_id = %s",
                [org.pk],
            )
            lo, hi, count = cursor.fetchone()
            if hi - lo + 1 != count:
                raise RuntimeError("subject ids are not contiguous")
            plan.append((org, n_org, n_sub, lo))
        steps["subjects"] = time.perf_counter() - t

        t = time.perf_counter()
        for org, n_org, n_sub, sub_lo in plan:
            mix = self._mix_values(org, DataCategory, Purpose, RetentionRule)
            cursor.execute(
                f"""
                INSERT INTO retention_record (
                    organisation_id, subject_id, category_id, purpose_id, rule_id,
                    external_id, data, source, source_detail, collected_at,
                    last_contact_at, contract_ended_at, purpose_ended_at, settled_at,
                    expires_at, restricted_at, restriction_ground, anonymised_at,
                    created_at, updated_at)
                SELECT %(org)s, %(sub_lo)s + (x.i::bigint * 7919) %% %(n_sub)s,
                       m.category_id, m.purpose_id, NULL,
                       'b' || x.i,
                       CASE WHEN m.first_field IS NULL THEN m.tpl
                            ELSE jsonb_set(m.tpl, ARRAY[m.first_field],
                                           to_jsonb(m.first_field || '-' || x.i)) END,
                       m.source, '',
                       e.ev - CASE WHEN m.start_event = 'collected' THEN interval '0'
                                   ELSE x.c * interval '400 days' END,
                       {self._event("last_contact")}, {self._event("contract_end")},
                       {self._event("purpose_end")}, {self._event("settled")},
                       NULL, NULL, '', NULL, now(), now()
                  FROM (SELECT i, random() AS u, random() AS v, random() AS w, random() AS c
                          FROM generate_series(1, %(n)s) i) x
                  JOIN ({mix}) m (category_id, purpose_id, lo, hi, start_event, period, eoy,
                                  open, expired, spread, tpl, first_field, source)
                    ON x.u >= m.lo AND x.u < m.hi
                 CROSS JOIN LATERAL (
                    SELECT LEAST(
                        %(cutoff)s - interval '1 hour',
                        %(cutoff)s - COALESCE(m.period, interval '1 year')
                          - CASE WHEN m.eoy THEN interval '183 days' ELSE interval '0' END
                          + m.spread * ((1 - m.expired) - x.v) * interval '1 day'
                    ) AS ev,
                    x.w < m.open AS open
                 ) e
                """,
                {
                    "org": org.pk,
                    "sub_lo": sub_lo,
                    "n_sub": n_sub,
                    "n": n_org,
                    "cutoff": self.cutoff,
                },
            )
        steps["records"] = time.perf_counter() - t

        t = time.perf_counter()
        for org in orgs.values():
            records_refresh(organisation=org)
        steps["records_refresh"] = time.perf_counter() - t

        # No record may expire between the cutoff and the worker runs (which
        # sweep at "now"): move the events of those that would 400 days back.
        t = time.perf_counter()
        gap = self.cutoff + dt.timedelta(days=2)
        cursor.execute(
            "UPDATE retention_record SET collected_at = collected_at - interval '400 days', "
            "last_contact_at = last_contact_at - interval '400 days', "
            "contract_ended_at = contract_ended_at - interval '400 days', "
            "purpose_ended_at = purpose_ended_at - interval '400 days', "
            "settled_at = settled_at - interval '400 days' "
            "WHERE expires_at > %s AND expires_at <= %s RETURNING organisation_id, id",
            [self.cutoff, gap],
        )
        moved: dict[int, list[int]] = {}
        for org_id, record_id in cursor.fetchall():
            moved.setdefault(org_id, []).append(record_id)
        for org in orgs.values():
            if moved.get(org.pk):
                records_refresh(organisation=org, record_ids=moved[org.pk])
        cursor.execute(
            "SELECT count(*) FROM retention_record WHERE expires_at > %s AND expires_at <= %s",
            [self.cutoff, gap],
        )
        if cursor.fetchone()[0]:
            raise RuntimeError("records still expire just after the cutoff")
        steps["gap"] = time.perf_counter() - t

        # Disclosures: every 20th record, to the organisation's recipients in turn.
        t = time.perf_counter()
        cursor.execute(
            """
            INSERT INTO retention_disclosure (organisation_id, recipient_id, subject_id,
                record_id, category_id, disclosed_at, external_id)
            SELECT r.organisation_id, rc.ids[1 + r.id % array_length(rc.ids, 1)], r.subject_id,
                   r.id, r.category_id, r.collected_at + interval '1 day', 'bd' || r.id
              FROM retention_record r
              JOIN (SELECT organisation_id, array_agg(id ORDER BY key) AS ids
                      FROM retention_recipient GROUP BY organisation_id) rc
                USING (organisation_id)
             WHERE r.id % 20 = 0
            """
        )
        steps["disclosures"] = time.perf_counter() - t

        # Holds: a few subjects per organisation (each with expired records),
        # one category; plus a lifted and an ended hold, which hold nothing.
        t = time.perf_counter()
        for org in orgs.values():
            subjects = (
                DataSubject.objects.filter(organisation=org, records__expires_at__lte=self.cutoff)
                .distinct()
                .order_by("pk")[:HELD_SUBJECTS_PER_ORG]
            )
            for subject in subjects:
                hold_place(organisation=org, subject=subject, reason="bench: pending dispute")
        slug, key = HELD_CATEGORY
        category = DataCategory.objects.get(organisation=orgs[slug], key=key)
        hold_place(organisation=orgs[slug], category=category, reason="bench: authority request")
        lifted = hold_place(organisation=orgs[slug], reason="bench: lifted")
        lifted.lifted_at = self.cutoff - dt.timedelta(days=1)
        lifted.save(update_fields=["lifted_at"])
        cursor.execute(
            "UPDATE retention_legalhold SET ends_at = %s WHERE id = %s",
            [
                self.cutoff - dt.timedelta(days=1),
                hold_place(organisation=orgs[slug], reason="bench: ended").pk,
            ],
        )
        steps["holds"] = time.perf_counter() - t

        t = time.perf_counter()
        cursor.execute("VACUUM (FULL, ANALYZE)")
        cursor.execute("CHECKPOINT")
        steps["vacuum_full_analyze"] = time.perf_counter() - t
        cursor.close()
        return steps

    @classmethod
    def dataset_generate(cls, records: int, cutoff: dt.datetime) -> dict:
        """The benchmark's data set in the current database (other benchmarks reuse it)."""
        generator = cls.__new__(cls)
        generator.args = argparse.Namespace(records=records)
        generator.cutoff = cutoff
        return generator._generate()

    @staticmethod
    def _event(start: str) -> str:
        return f"CASE WHEN m.start_event = '{start}' AND NOT e.open THEN e.ev END"

    def _mix_values(self, org, DataCategory, Purpose, RetentionRule) -> str:  # noqa: N803
        """The organisation's mix as a VALUES list of constants (ids and numbers only)."""
        categories = {c.key: c for c in DataCategory.objects.filter(organisation=org)}
        purposes = {
            p.key: p
            for p in Purpose.objects.filter(organisation=org).select_related("retention_rule")
        }
        rows, lo = [], 0.0
        entries = MIX[org.slug]
        total = sum(e[2] for e in entries)
        for category_key, purpose_key, share, open_, expired, source in entries:
            category, purpose = categories[category_key], purposes[purpose_key]
            rule = (
                RetentionRule.objects.filter(applies_to_categories=category).order_by("key").first()
                or purpose.retention_rule
            )
            hi = lo + share / total
            if rule.action == "keep" or rule.start_event == "relationship" or not rule.period_value:
                period, days = "NULL", 365
            else:
                period = f"interval '{rule.period_value} {rule.period_unit}'"
                days = (
                    rule.period_value
                    * {"days": 1, "weeks": 7, "months": 30, "years": 365}[rule.period_unit]
                )
            spread = min(max(days, 30), 730)
            fields = list(category.fields) or ["note"]
            tpl = json.dumps({f: f"{f}: {'x' * 24}" for f in fields})
            start = rule.start_event if rule.start_event in EVENT_COLUMN else "collected"
            rows.append(
                "SELECT {}, {}, {}::float8, {}::float8, {}, {}::interval, {}, {}::float8, "
                "{}::float8, {}, {}::jsonb, {}, {}".format(
                    category.pk,
                    purpose.pk,
                    lo,
                    1.0 if hi > 0.999999 else hi,
                    "'" + start + "'",
                    period,
                    "true" if rule.end_of_calendar_year else "false",
                    open_,
                    expired,
                    spread,
                    "'" + tpl.replace("'", "''") + "'",
                    "'" + fields[0] + "'",
                    "'" + source + "'",
                )
            )
            lo = hi
        return " UNION ALL ".join(rows)

    # -- 3 + 4: the variants ------------------------------------------------

    def fingerprint(self, url: str) -> list:
        conn = connect(url)
        try:
            with conn.cursor() as cur:
                cur.execute(FINGERPRINT_SQL)
                return list(cur.fetchone())
        finally:
            conn.close()

    def pick_plan(self, url: str) -> str:
        """EXPLAIN (ANALYZE, BUFFERS) of the batch pick of the largest organisation."""
        from retention.services.sweep_sql import PICK_SQL
        from retention.services.sweeps import WHOLE

        conn = connect(url, autocommit=False)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT id FROM retention_organisation WHERE slug = 'framsteget'")
                org_id = cur.fetchone()[0]
                cur.execute(
                    "EXPLAIN (ANALYZE, BUFFERS) " + PICK_SQL + " FOR UPDATE OF r SKIP LOCKED",
                    {
                        "org": org_id,
                        "cutoff": self.cutoff,
                        "now": self.cutoff,
                        "after_at": WHOLE.after_at,
                        "after_id": WHOLE.after_id,
                        "upto_at": WHOLE.upto_at,
                        "upto_id": WHOLE.upto_id,
                        "limit": self.args.batch_size,
                    },
                )
                return "\n".join(row[0] for row in cur.fetchall())
        finally:
            conn.rollback()
            conn.close()

    def variant_inline(self) -> None:
        url = self.copy("inline")
        if "pick_plan" not in self.results:
            self.results["pick_plan"] = self.pick_plan(url)
        log("sweep, inline, one process ...")
        result = run_child(
            "inline",
            url,
            self.child_env,
            "--cutoff",
            self.cutoff.isoformat(),
            "--batch-size",
            str(self.args.batch_size),
        )
        result["fingerprint"] = self.fingerprint(url)
        self.results.setdefault("inline_runs", []).append(result)
        log(
            f"  {result['processed']:,} rows in {result['seconds']:.2f} s, "
            f"RSS growth {result['rss_growth'] / MB:.1f} MB"
        )
        self.drop(COPY_PREFIX + "inline")

    def variant_floor(self) -> None:
        url = self.copy("floor")
        log("physical floor, raw SQL in one transaction ...")
        result = run_child("floor", url, self.child_env, "--cutoff", self.cutoff.isoformat())
        result["fingerprint"] = self.fingerprint(url)
        self.results.setdefault("floor_runs", []).append(result)
        log(f"  {result['processed']:,} rows in {result['seconds']:.2f} s ({result['rows']})")
        self.drop(COPY_PREFIX + "floor")

    def variant_orm(self) -> None:
        url = self.copy("orm")
        log(f"per-row ORM loop on {self.args.sample:,} records ...")
        result = run_child(
            "orm",
            url,
            self.child_env,
            "--cutoff",
            self.cutoff.isoformat(),
            "--sample",
            str(self.args.sample),
        )
        self.results["orm"] = result
        log(f"  {result['processed']:,} rows in {result['seconds']:.2f} s")
        self.drop(COPY_PREFIX + "orm")

    def variant_workers(self, concurrency: int) -> None:
        from celery import Celery

        url = self.copy(f"workers_{concurrency}")
        app = Celery("bench", broker=self.redis_url)
        app.conf.broker_connection_retry_on_startup = True
        app.control.purge()
        log_path = self.tmp / f"worker{concurrency}.log"
        worker_log = log_path.open("wb")
        env = {
            **self.child_env,
            "DATABASE_URL": url,
            "SWEEP_PARTS": str(self.args.parts),
        }
        proc = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "WARNING",
                "--without-mingle",
                "--without-gossip",
                "--hostname",
                f"bench{concurrency}@%h",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(proc)
        try:
            deadline = time.monotonic() + 90
            while len(app.control.ping(timeout=0.5)) < 1:
                if proc.poll() is not None:
                    raise RuntimeError("the worker exited at start-up")
                if time.monotonic() > deadline:
                    raise RuntimeError("the worker did not answer a ping within 90 s")
            import psutil

            parent = psutil.Process(proc.pid)
            time.sleep(1.0)  # let the pool children finish starting
            children = [c.pid for c in parent.children(recursive=True)]
            rss0 = {pid: rss_bytes(pid) for pid in children}
            conn = connect(url)
            with conn.cursor() as cur:
                cur.execute("SELECT id FROM retention_organisation ORDER BY slug")
                org_ids = [row[0] for row in cur.fetchall()]
            log(f"sweep with {concurrency} Celery worker process(es) ...")
            with RssSampler(lambda: children) as sampler:
                started = time.perf_counter()
                for org_id in org_ids:
                    app.send_task(
                        "retention.tasks.sweep_organisation",
                        args=[org_id],
                        kwargs={"trigger": "command"},
                    )
                deadline = time.monotonic() + self.args.timeout
                while True:
                    with conn.cursor() as cur:
                        cur.execute(
                            "SELECT count(*) FILTER (WHERE status = 'completed'), "
                            "count(*) FILTER (WHERE status = 'failed'), "
                            "coalesce(sum(processed), 0) FROM retention_sweeprun"
                        )
                        completed, failed, processed = cur.fetchone()
                    if failed:
                        raise RuntimeError("a sweep run failed")
                    if completed == len(org_ids):
                        break
                    if proc.poll() is not None:
                        raise RuntimeError("the worker exited during the sweep")
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the sweep did not complete in {self.args.timeout} s")
                    time.sleep(0.05)
                wall = time.perf_counter() - started
            conn.close()
        except BaseException:
            tail = log_path.read_text(errors="replace")[-3000:]
            print(f"--- worker log (tail) ---\n{tail}", file=sys.stderr)
            raise
        finally:
            stop_process(proc)
            self.processes.remove(proc)
            worker_log.close()
        growth = max((sampler.peak.get(pid, 0) - rss0[pid]) for pid in children)
        result = {
            "concurrency": concurrency,
            "parts": self.args.parts,
            "seconds": wall,
            "processed": processed,
            "rows_per_second": processed / wall if wall else None,
            "max_child_rss_growth": growth,
            "fingerprint": self.fingerprint(url),
        }
        self.results.setdefault("workers", []).append(result)
        log(
            f"  {processed:,} rows in {wall:.2f} s ({result['rows_per_second']:,.0f} rows/s), "
            f"max pool-child RSS growth {growth / MB:.1f} MB"
        )
        self.drop(COPY_PREFIX + f"workers_{concurrency}")

    # -- 5: the report ------------------------------------------------------

    def machine(self) -> dict:
        import psutil

        version = self.admin("SHOW server_version")[0][0]
        settings = {
            name: self.admin(f"SHOW {name}")[0][0]
            for name in ("shared_buffers", "work_mem", "max_wal_size", "synchronous_commit")
        }
        return {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "ram_gb": round(psutil.virtual_memory().total / 1024**3, 1),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "postgresql": version,
            "postgresql_settings": settings,
            "embedded_postgresql": not os.environ.get("BENCH_GIVEN_DATABASE"),
            "load_average_at_start": os.getloadavg(),
        }

    def report(self) -> None:
        r = self.results
        r["machine"]["load_average_at_end"] = os.getloadavg()
        inline, floor, orm = r["inline"], r["floor"], r["orm"]
        inline_rate = inline["processed"] / inline["seconds"]
        floor_rate = floor["processed"] / floor["seconds"]
        orm_rate = orm["processed"] / orm["seconds"]
        ratios = {
            "sweep_over_floor": inline["seconds"] / floor["seconds"],
            "sweep_rss_growth_mb": inline["rss_growth"] / MB,
            "sweep_over_orm_speed": inline_rate / orm_rate,
        }
        same = all(
            run["fingerprint"] == inline["fingerprint"]
            for run in r["inline_runs"] + r["floor_runs"]
        )
        workers_same = all(w["fingerprint"] == inline["fingerprint"] for w in r.get("workers", []))
        r["summary"] = {
            **ratios,
            "sweep_rows_per_second": inline_rate,
            "floor_rows_per_second": floor_rate,
            "orm_rows_per_second": orm_rate,
            "floor_same_end_state": same,
            "workers_same_end_state": workers_same,
            "pick_uses_seq_scan": "Seq Scan on retention_record" in r["pick_plan"],
            "targets": {
                "sweep_over_floor_max": TARGET_RAW_RATIO,
                "rss_growth_mb_max": TARGET_RSS_MB,
                "orm_speedup_min": TARGET_ORM_SPEEDUP,
            },
            "met": {
                "sweep_over_floor": ratios["sweep_over_floor"] <= TARGET_RAW_RATIO,
                "rss_growth": ratios["sweep_rss_growth_mb"] < TARGET_RSS_MB,
                "orm_speedup": ratios["sweep_over_orm_speed"] >= TARGET_ORM_SPEEDUP,
            },
        }
        m, d, s = r["machine"], r["data"], r["summary"]
        ok = {True: "yes", False: "NO"}
        lines = [
            "",
            f"Retention sweep benchmark, {m['date']}",
            f"Machine: {m['cpus']} CPUs, {m['ram_gb']} GB RAM, PostgreSQL {m['postgresql']} "
            f"({', '.join(f'{k}={v}' for k, v in m['postgresql_settings'].items())}), "
            f"Python {m['python']}; load average (1 min) {m['load_average_at_start'][0]:.2f} "
            f"at the start, {m['load_average_at_end'][0]:.2f} at the end",
            f"Data: {d['records']:,} records, {d['subjects']:,} subjects, "
            f"{d['disclosures']:,} disclosures; {d['expired']:,} expired at the cutoff, "
            f"{d['sweepable']:,} not held; generated in {d['generation_seconds']:.1f} s",
            "",
            f"{'variant':<50}{'rows':>10}{'seconds':>10}{'rows/s':>11}",
            "-" * 81,
        ]

        def row(name, rows, seconds):
            lines.append(f"{name:<50}{rows:>10,}{seconds:>10.2f}{rows / seconds:>11,.0f}")

        row("sweep inline, 1 process (median)", inline["processed"], inline["seconds"])
        row("physical floor, raw SQL, 1 transaction (median)", floor["processed"], floor["seconds"])
        row("per-row ORM loop (sample)", orm["processed"], orm["seconds"])
        for w in r.get("workers", []):
            row(
                f"sweep, Celery prefork x{w['concurrency']} ({w['parts']} parts)",
                w["processed"],
                w["seconds"],
            )
        times = {
            name: ", ".join(f"{run['seconds']:.1f}" for run in r[f"{name}_runs"])
            for name in ("inline", "floor")
        }
        lines += [
            f"(all runs, s: sweep {times['inline']}; floor {times['floor']})",
            "",
            f"{'target':<44}{'measured':>12}{'goal':>10}{'met':>6}",
            "-" * 72,
            f"{'sweep / raw SQL floor (time)':<44}{s['sweep_over_floor']:>11.2f}x"
            f"{'<= 1.5x':>10}{ok[s['met']['sweep_over_floor']]:>6}",
            f"{'worker peak RSS growth':<44}{s['sweep_rss_growth_mb']:>9.1f} MB"
            f"{'< 50 MB':>10}{ok[s['met']['rss_growth']]:>6}",
            f"{'sweep rows/s / per-row ORM rows/s':<44}{s['sweep_over_orm_speed']:>11.0f}x"
            f"{'>= 50x':>10}{ok[s['met']['orm_speedup']]:>6}",
            "",
            f"Floor and sweep leave the same end state: {ok[same]}; "
            f"worker runs too: {ok[workers_same]}",
            "Batch pick uses a sequential scan on retention_record: "
            f"{'YES' if s['pick_uses_seq_scan'] else 'no'}",
        ]
        print("\n".join(lines), flush=True)

    def run(self) -> None:
        self.start_services()
        self.results["machine"] = self.machine()
        self.results["command"] = " ".join(
            [".venv/bin/python", "bench/retention_sweep.py", *sys.argv[1:]]
        )
        self.results["settings"] = {
            "records": self.args.records,
            "batch_size": self.args.batch_size,
            "orm_sample": self.args.sample,
            "parts": self.args.parts,
            "workers": self.args.workers,
        }
        self.build_template()
        if not self.args.template_only:
            # Floor and sweep alternate, so that a busy moment of the machine
            # does not favour one of them; the report uses the medians.
            for _ in range(self.args.repeat):
                self.variant_floor()
                self.variant_inline()
            for name in ("floor", "inline"):
                runs = sorted(self.results[f"{name}_runs"], key=lambda r: r["seconds"])
                self.results[name] = runs[len(runs) // 2]
            self.variant_orm()
            for concurrency in self.args.workers:
                self.variant_workers(concurrency)
            self.report()
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(self.results, indent=2, default=str) + "\n")
            log(f"results written to {RESULTS.relative_to(BASE_DIR)}")


def stop_process(proc: subprocess.Popen) -> None:
    """Stop a process this script started (and its session: pool children)."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--sample", type=int, default=5000, help="records in the ORM loop")
    parser.add_argument("--parts", type=int, default=8, help="SWEEP_PARTS for the worker runs")
    parser.add_argument(
        "--workers", default="1,2,4", help="worker concurrencies, comma-separated ('' for none)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of the floor and the inline sweep (median)"
    )
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per worker run")
    parser.add_argument(
        "--keep-template",
        action="store_true",
        help=f"keep {TEMPLATE_DB} afterwards (with a given DATABASE_URL, to investigate)",
    )
    parser.add_argument(
        "--template-only",
        action="store_true",
        help="only build the template database (with --keep-template: to investigate)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--cutoff", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        cutoff = dt.datetime.fromisoformat(args.cutoff)
        if args.child == "inline":
            result = child_inline(cutoff, args.batch_size)
        elif args.child == "floor":
            result = child_floor(cutoff)
        else:
            result = child_orm(cutoff, args.sample)
        print(json.dumps(result, default=str))
        return

    sys.path.insert(0, str(BASE_DIR))
    if args.batch_size is None:
        # The sweep's default, read without importing Django settings.
        import ast

        tree = ast.parse((BASE_DIR / "retention/services/sweeps.py").read_text())
        args.batch_size = next(
            node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and getattr(node.targets[0], "id", "") == "DEFAULT_BATCH_SIZE"
        )
    args.workers = [int(w) for w in args.workers.split(",") if w.strip()]
    if os.environ.get("DATABASE_URL"):
        os.environ["BENCH_GIVEN_DATABASE"] = "1"

    bench = Bench(args)

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        bench.run()
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        sys.exit(130)
    finally:
        bench.cleanup()


if __name__ == "__main__":
    main()
