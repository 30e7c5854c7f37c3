"""The image's build context holds nothing secret and nothing local.

The Dockerfile ends with `COPY . .`, so whatever the build context holds is baked into the
image. No Docker engine runs on our machines, so the context is computed the way the Docker
CLI computes it: `.dockerignore` applied by the Docker SDK for Python's own implementation of
its rules (`docker.utils.build.exclude_paths`), over a working copy that holds what a
developer's working copy holds after `make run` and `make test`.
"""

import shutil
import subprocess
from pathlib import Path

import pytest
from docker.utils.build import exclude_paths

ROOT = Path(__file__).resolve().parents[2]

# What a developer's working copy holds besides the committed files (see README, "After
# `make run`"): secrets, e-mails with verification codes, database files, packages.
LOCAL_FILES = [
    ".env",
    ".env.production",
    "var/mail/20261205-101010-1.log",
    "var/pg/base/1/1259",
    "var/redis/dump.rdb",
    "var/packages/3/package-7.bin",
    "var/audit/chain-heads.log",
    ".venv/bin/python",
    ".venv/lib/python3.11/site-packages/django/__init__.py",
    ".venv-min/bin/python",
    "portal/__pycache__/settings.cpython-311.pyc",
    ".pytest_cache/v/cache/lastfailed",
    "test-artifacts/e2e/axe-findings.json",
    "tls/portal.key",
]


@pytest.fixture
def working_copy(tmp_path: Path) -> Path:
    """The committed files, plus the local ones a developer has."""
    committed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in committed)):
        if (ROOT / name).is_file():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / name, tmp_path / name)
    for name in LOCAL_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("local")
    return tmp_path


def _context(root: Path) -> set[str]:
    patterns = (root / ".dockerignore").read_text().splitlines()
    patterns = [p.strip() for p in patterns if p.strip() and not p.startswith("#")]
    return {p for p in exclude_paths(str(root), patterns) if (root / p).is_file()}


def test_no_secret_or_local_file_is_in_the_build_context(working_copy):
    context = _context(working_copy)
    leaked = sorted(name for name in context if name in LOCAL_FILES)
    assert not leaked
    assert not [n for n in context if n.startswith(("var/", ".venv", ".git/"))]


def test_the_build_context_holds_what_the_image_runs(working_copy):
    context = _context(working_copy)
    for needed in (
        "manage.py",
        "pyproject.toml",
        "README.md",
        ".env.example",
        "portal/settings.py",
        "portal/wsgi.py",
        "requests_app/apps.py",
        "retention/apps.py",
        "retention/policies/framsteget.yaml",
        "locale/sv/LC_MESSAGES/django.mo",
    ):
        assert needed in context, needed
    assert any(name.startswith("templates/") for name in context)
    assert any(name.startswith("static/") for name in context)
    assert not any(name.startswith("tests/") for name in context)
