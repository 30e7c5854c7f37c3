"""pytest plugin: real PostgreSQL and Redis for the test suite.

Loaded with `-p tests.embedded_services` (pyproject.toml) so that it runs
before pytest-django imports the settings. Where `DATABASE_URL` / `REDIS_URL`
are not set, it starts the same embedded servers as `make run`, in a
throwaway directory that is removed at the end of the session. Where they are
set, the tests use those servers (pytest-django creates `test_<name>`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from portal.embedded import remove_tree, start_services, stop_services

_started: list = []
_tmp_dir: Path | None = None


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    global _tmp_dir
    # xdist workers get the variables from the controller; start nothing there.
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        _tmp_dir = Path(tempfile.mkdtemp(prefix="dsr-test-"))
        os.environ.setdefault("DEBUG", "true")
        os.environ.setdefault("VAR_DIR", str(_tmp_dir / "var"))
        exported, started = start_services(_tmp_dir)
        os.environ.update(exported)
        _started.extend(started)
    return (yield)


def pytest_unconfigure(config):
    stop_services(_started)
    _started.clear()
    if _tmp_dir is not None:
        remove_tree(_tmp_dir)


def embedded_started() -> list:
    """The services this session started (empty when the environment gave them)."""
    return list(_started)
