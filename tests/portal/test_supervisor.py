"""`make run` supervises: what dies is restarted with back-off and logged (portal.supervisor).

Issue: "`make run` restarts an embedded PostgreSQL or Redis that dies, with
back-off, and logs it. The same goes for web, worker and beat. Ctrl-C still
stops everything." Real processes and signals; the chaos test
(tests/portal/test_chaos.py) kills PostgreSQL and the Celery processes too.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time

import psutil

from portal.embedded import EmbeddedRedis
from portal.supervisor import Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def _until(condition, supervisor: Supervisor, timeout: float = 15.0) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "not restarted in time"
        supervisor.check()
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_process_that_dies_is_restarted_later_each_time_and_it_is_logged():
    said: list[str] = []
    supervisor = Supervisor(said.append)
    first = supervisor.add_process("worker", SLEEPER)
    try:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        waited = _until(lambda: supervisor.restarts("worker") == 1, supervisor)
        assert 0.9 <= waited < 3
        second = supervisor.processes["worker"]
        assert second.pid != first.pid and second.poll() is None

        os.kill(second.pid, signal.SIGKILL)  # again at once: the back-off doubles
        second.wait()
        waited = _until(lambda: supervisor.restarts("worker") == 2, supervisor)
        assert 1.9 <= waited < 4
    finally:
        supervisor.stop()
    assert any("worker died (exit code -9); restarting in 1 s" in line for line in said)
    assert any("worker restarted (2 so far)" in line for line in said)
    assert all(proc.poll() is not None for proc in supervisor.processes.values())


def test_an_embedded_redis_that_is_killed_comes_back_on_the_same_port(tmp_path):
    redis = EmbeddedRedis(tmp_path / "redis", persistent=False)
    redis.start()
    said: list[str] = []
    supervisor = Supervisor(said.append)
    supervisor.add_service("Redis", redis)
    try:
        os.kill(redis._process.pid, signal.SIGKILL)
        redis._process.wait()
        _until(lambda: supervisor.restarts("Redis") == 1, supervisor)
        with socket.create_connection(("127.0.0.1", redis.port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            assert sock.recv(16).startswith(b"+PONG")
    finally:
        supervisor.stop()
    assert not redis.running
    assert "Redis died; restarting in 1 s" in said


def test_stop_ends_every_process_of_a_child_s_session_too():
    supervisor = Supervisor(lambda line: None)
    # A parent that leaves a grandchild behind, as a Celery worker leaves its pool.
    proc = supervisor.add_process(
        "web",
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; "
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
            "time.sleep(600)",
        ],
    )
    time.sleep(0.5)
    supervisor.stop(timeout=5)
    assert proc.poll() is not None
    time.sleep(0.2)
    # Zombies may linger (nobody reaps an orphan in a container without an init).
    left = [
        p
        for p in psutil.process_iter(["status"])
        if _pgid(p.pid) == proc.pid and p.info["status"] != psutil.STATUS_ZOMBIE
    ]
    assert left == []


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None
