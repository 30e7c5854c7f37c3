"""What the benchmarks share: a fresh database on real servers, timing, results.

`BenchStack` uses DATABASE_URL / REDIS_URL when they are set, else starts an
embedded PostgreSQL and Redis (portal.embedded) in a throwaway directory. It
creates a database of its own (`dsr_bench_<name>`), migrates it, loads the
five policies and sets up Django in this process with production-like
settings (DEBUG=false, so that Django keeps no query log). Everything it
created is removed on exit, also after an error or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parents[1]
RESULTS_DIR = BASE_DIR / "bench" / "results"
# The intake benchmark's floor view writes here (bench/urls.py).
FLOOR_TABLE = "bench_intake_floor"


def log(message: str) -> None:
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S}] {message}", flush=True)


def db_url(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (`share` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary_ms(seconds: list[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(percentile(ms, 0.95), 2),
        "max_ms": round(max(ms), 2),
    }


def machine() -> dict:
    import psycopg2

    return {
        "date": dt.date.today().isoformat(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "psycopg2": psycopg2.__version__.split()[0],
    }


def results_write(name: str, results: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **results}, indent=2, default=str) + "\n")
    log(f"figures written to {path.relative_to(BASE_DIR)}")
    return path


def production_hmac_keys() -> dict[str, str]:
    """A fresh key for every keyring (DEBUG=false requires them: retention.keyring)."""
    from retention.keyring import SETTING_NAMES, hmac_key_generate

    return {name: hmac_key_generate(kid="bench") for name in SETTING_NAMES.values()}


def verdict(value: float, target: float, *, lower_is_better: bool = True) -> str:
    met = value <= target if lower_is_better else value >= target
    return "met" if met else "NOT MET"


class BenchStack(contextlib.AbstractContextManager):
    """Servers, a fresh migrated database and Django set up in this process."""

    def __init__(self, name: str):
        self.name = f"dsr_bench_{name}"
        self.tmp = Path(tempfile.mkdtemp(prefix=f"dsr-bench-{name}-"))
        self.services: list = []
        self.processes: list[subprocess.Popen] = []
        self.env: dict[str, str] = {}

    def __enter__(self) -> BenchStack:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        from portal.embedded import EmbeddedPostgres, EmbeddedRedis

        server_url = os.environ.get("DATABASE_URL", "")
        redis_url = os.environ.get("REDIS_URL", "")
        if not server_url:
            pg = EmbeddedPostgres(self.tmp / "pg", database="postgres")
            self.services.append(pg)
            server_url = pg.start()
            log("embedded PostgreSQL started")
        if not redis_url:
            redis = EmbeddedRedis(self.tmp / "redis", persistent=False)
            self.services.append(redis)
            redis_url = redis.start()
            log("embedded Redis started")
        self.admin_url = db_url(server_url, "postgres")
        self.admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin(f'CREATE DATABASE "{self.name}"')
        self.created = True
        self.env = {
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "portal.settings"),
            "DATABASE_URL": db_url(server_url, self.name),
            "REDIS_URL": redis_url,
            "DEBUG": "false",  # DEBUG=true would keep every query in memory
            "SECRET_KEY": secrets.token_urlsafe(48),
            **production_hmac_keys(),
            "ALLOWED_HOSTS": "localhost,127.0.0.1",
            "PORTAL_BASE_URL": "http://localhost:8000",
            "VAR_DIR": str(self.tmp / "var"),
            "LOG_LEVEL": "WARNING",
            "SECURE_SSL_REDIRECT": "false",  # no TLS proxy in front of a benchmark
            "PYTHONPATH": str(BASE_DIR),
        }
        os.environ.update(self.env)
        import django

        django.setup()
        from django.core.management import call_command

        from retention.services.policies import policies_load

        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)  # as in production
        policies_load()
        log(
            f"migrated {self.name} and loaded the policies in {time.perf_counter() - started:.1f} s"
        )

    def admin(self, sql: str) -> None:
        import psycopg2

        conn = psycopg2.connect(self.admin_url)
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql)
        finally:
            conn.close()

    def spawn(self, args: list[str], **kwargs) -> subprocess.Popen:
        """A child process with the stack's environment, stopped on close."""
        proc = subprocess.Popen(args, env={**os.environ, **self.env}, cwd=BASE_DIR, **kwargs)
        self.processes.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.processes.clear()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if getattr(self, "created", False):
            with contextlib.suppress(Exception):
                self.admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        for service in reversed(self.services):
            with contextlib.suppress(Exception):
                service.stop()
        self.services.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)
