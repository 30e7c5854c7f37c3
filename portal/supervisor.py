"""Keeps the portal's pieces running: embedded services and processes, restarted with back-off.

`make run` (`portal.stack`) and the chaos run (`bench/chaos.py`) hand their
embedded PostgreSQL / Redis (`portal.embedded`) and their child processes
(gunicorn, the Celery worker, beat) to a `Supervisor` and call `check()` in
their loop. Whatever has died is started again, after 1 s the first time and
twice as long after each further death in a row (at most `MAX_DELAY`); a piece
that then stays up for `STABLE_AFTER` seconds starts from 1 s again. Every
death and restart is logged. `stop()` stops the processes (SIGTERM to their
session, SIGKILL after a grace period), then the services.

No Django here: the supervisor runs before settings can be loaded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

FIRST_DELAY = 1.0
MAX_DELAY = 30.0
STABLE_AFTER = 60.0


@dataclass
class _Piece:
    name: str
    start: Callable[[], None]
    alive: Callable[[], bool]
    stop: Callable[[], None]
    restarts: int = 0
    delay: float = FIRST_DELAY
    started_at: float = field(default_factory=time.monotonic)
    dead_since: float | None = None


class Supervisor:
    def __init__(self, say: Callable[[str], None] = print, *, cwd: Path | None = None):
        self.say = say
        self.cwd = cwd
        self._pieces: dict[str, _Piece] = {}
        self.processes: dict[str, subprocess.Popen] = {}
        self.paused: set[str] = set()
        self._stopping = False

    # --- what is supervised ---------------------------------------------------------
    def add_service(self, name: str, service) -> None:
        """An embedded service (already started) with `start()`, `stop()` and `running`."""

        def start() -> None:
            service.stop()  # forget the dead handle (pgserver caches one per directory)
            service.start()

        self._pieces[name] = _Piece(name, start, lambda: service.running, service.stop)

    def add_process(
        self, name: str, args: list[str], *, cwd: Path | None = None, env: dict | None = None
    ) -> subprocess.Popen:
        """Start a child process in a session of its own (so Ctrl-C reaches only us)."""

        def start() -> None:
            self.processes[name] = subprocess.Popen(  # noqa: S603
                args, cwd=cwd or self.cwd, env=env, start_new_session=True
            )

        def alive() -> bool:
            return self.processes[name].poll() is None

        def stop() -> None:
            self._terminate(name)

        self.say(f"starting {name}")
        start()
        self._pieces[name] = _Piece(name, start, alive, stop)
        return self.processes[name]

    def restarts(self, name: str) -> int:
        return self._pieces[name].restarts

    # --- the loop -------------------------------------------------------------------
    def check(self) -> None:
        """Restart whatever has died and whose back-off has passed."""
        now = time.monotonic()
        for piece in list(self._pieces.values()):
            if self._stopping:
                return
            if piece.name in self.paused:
                continue
            if piece.alive():
                if piece.dead_since is None and now - piece.started_at > STABLE_AFTER:
                    piece.delay = FIRST_DELAY
                continue
            if piece.dead_since is None:
                piece.dead_since = now
                code = ""
                if piece.name in self.processes:
                    proc = self.processes[piece.name]
                    code = f" (exit code {proc.returncode})"
                    _signal_group(proc.pid, signal.SIGKILL)  # orphans (a killed worker's pool)
                self.say(f"{piece.name} died{code}; restarting in {piece.delay:.0f} s")
                continue
            if now - piece.dead_since < piece.delay:
                continue
            try:
                piece.start()
            except Exception as exc:  # try again later, waiting longer
                self.say(f"{piece.name} did not start ({type(exc).__name__}: {exc})")
                piece.dead_since = now
                piece.delay = min(piece.delay * 2, MAX_DELAY)
                continue
            piece.restarts += 1
            piece.started_at = now
            piece.dead_since = None
            self.say(f"{piece.name} restarted ({piece.restarts} so far)")
            piece.delay = min(piece.delay * 2, MAX_DELAY)

    def stop(self, timeout: float = 15) -> None:
        """Stop the processes (in reverse order of start), then the services."""
        self._stopping = True  # a check() running in another thread restarts nothing now
        names = list(self._pieces)
        processes = [n for n in reversed(names) if n in self.processes]
        for name in processes:
            proc = self.processes[name]
            if proc.poll() is None:
                _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name in processes:
            self._terminate(name, max(0.1, deadline - time.monotonic()))
        for name in reversed(names):
            if name not in self.processes:
                self._pieces[name].stop()
        self._pieces.clear()

    def _terminate(self, name: str, timeout: float = 15) -> None:
        proc = self.processes[name]
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.say(f"{name} did not stop in time; killing it")
        # Whatever is left of its session (pool children of a killed worker) goes too.
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)
