"""`make run`: the whole portal in the foreground, from one command.

    python -m portal.stack run

1. starts an embedded PostgreSQL / Redis for whatever `DATABASE_URL` /
   `REDIS_URL` do not provide (`portal.embedded`, data under `var/`), and
   creates the database a given `DATABASE_URL` names if it does not exist;
2. migrates, loads the five organisations' policy files, seeds demo data and
   ensures a demo staff account (each step idempotent);
3. runs gunicorn on http://127.0.0.1:8000, a Celery worker and Celery beat;
4. supervises them (`portal.supervisor`): an embedded service or a process
   that dies is restarted, with back-off, and the restart is logged;
5. on Ctrl-C (or SIGTERM) stops all of them, then the embedded services.

Children run in their own sessions so that Ctrl-C reaches only this process,
which then shuts everything down in order and leaves nothing running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from portal.embedded import (
    DatabaseUnavailable,
    EmbeddedPostgres,
    database_ensure,
    start_services,
    stop_services,
)
from portal.supervisor import Supervisor

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def _say(message: str) -> None:
    print(f"[portal] {message}", flush=True)


def _read_dotenv() -> None:
    dotenv = BASE_DIR / ".env"
    if dotenv.is_file():
        import environ

        environ.Env.read_env(dotenv, overwrite=False)


def _manage(*args: str) -> None:
    subprocess.run([PYTHON, str(BASE_DIR / "manage.py"), *args], check=True, cwd=BASE_DIR)  # noqa: S603


def _prepare(demo_subjects: int) -> None:
    _say("migrating the database")
    _manage("migrate", "--noinput", "-v", "0")
    _manage("load_policies")
    if os.environ.get("DEBUG", "").lower() in {"1", "true", "yes", "on"}:
        # Demo data and the demo staff account only in development (they refuse otherwise).
        _manage("seed_demo", "--subjects", str(demo_subjects))
        _manage("ensure_demo_staff")
    else:
        _manage("collectstatic", "--noinput", "-v", "0")


def run(*, host: str = "127.0.0.1", port: int = 8000, demo_subjects: int = 200) -> int:
    _read_dotenv()
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    var_dir = Path(os.environ.get("VAR_DIR") or BASE_DIR / "var")
    var_dir.mkdir(parents=True, exist_ok=True)

    stopping = False

    def _on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    if not _database_ensure():
        return 1
    exported, services = start_services(var_dir)
    for name, url in exported.items():
        _say(f"embedded {'PostgreSQL' if name == 'DATABASE_URL' else 'Redis'}: {name}={url}")
    os.environ.update(exported)
    supervisor = Supervisor(_say, cwd=BASE_DIR)
    for service in services:
        supervisor.add_service(
            "PostgreSQL" if isinstance(service, EmbeddedPostgres) else "Redis", service
        )
    try:
        _prepare(demo_subjects)
        _add_processes(supervisor, host, port)
        _say_where(host, port, var_dir)
        while not stopping:
            supervisor.check()
            time.sleep(0.5)
        return 0
    except subprocess.CalledProcessError as exc:
        _say(f"start-up step failed: {' '.join(map(str, exc.cmd[1:]))}")
        return 1
    finally:
        _say("stopping")
        supervisor.stop()
        stop_services(services)  # already stopped by the supervisor, unless start-up failed
        _say("stopped")


def _database_ensure() -> bool:
    """Create the database a given `DATABASE_URL` names if it is missing; False if unreachable."""
    if os.environ.get("DATABASE_URL"):
        try:
            if database_ensure(os.environ["DATABASE_URL"]):
                _say("created the database DATABASE_URL names")
        except DatabaseUnavailable as exc:
            _say(str(exc))
            return False
    return True


def _add_processes(supervisor: Supervisor, host: str, port: int) -> None:
    """Start gunicorn, a Celery worker and Celery beat under the supervisor."""
    supervisor.add_process(
        "web (gunicorn)",
        [
            str(BIN / "gunicorn"),
            "portal.wsgi",
            "--config",
            "python:portal.gunicorn_conf",  # access log: paths only, never query strings
            "--bind",
            f"{host}:{port}",
            "--workers",
            os.environ.get("WEB_CONCURRENCY", "2"),
        ],
    )
    supervisor.add_process(
        "Celery worker",
        [
            str(BIN / "celery"),
            "-A",
            "portal",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            os.environ.get("CELERY_CONCURRENCY", "2"),
        ],
    )
    supervisor.add_process(
        "Celery beat",
        [
            str(BIN / "celery"),
            "-A",
            "portal",
            "beat",
            "--loglevel",
            "INFO",
        ],
    )


def _say_where(host: str, port: int, var_dir: Path) -> None:
    """Print where the portal, its API and its e-mails are."""
    _say(f"portal:  http://{host}:{port}/")
    _say(f"health:  http://{host}:{port}/healthz")
    _say(f"API:     http://{host}:{port}/api/docs/")
    _say(f"staff:   http://{host}:{port}/staff/")
    _say(f"e-mails: {os.environ.get('EMAIL_URL') or var_dir / 'mail'}")
    _say("Ctrl-C stops everything")


if __name__ == "__main__":
    if sys.argv[1:] != ["run"]:
        sys.exit("usage: python -m portal.stack run")
    sys.exit(run())
