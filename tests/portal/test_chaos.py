"""The chaos run, small (issue 14): every fault once under load; nothing lost, nothing twice.

Runs `bench/chaos.py` in a process of its own, with its own embedded
PostgreSQL and Redis (it freezes, kills and restarts them), a few hundred
requests, smaller subjects and a smaller sweep than `make chaos`. The run
checks everything itself (see its docstring) and exits 1 when a check
fails; its table is printed on failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.chaos


def test_under_load_and_every_fault_nothing_is_lost_or_done_twice(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    results = tmp_path / "chaos.json"
    proc = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "bench/chaos.py",
            "--requests=300",
            "--rate=4",
            "--big=5000",
            "--sweep-records=20000",
            "--sweep-batch=500",
            "--freeze=5",
            "--small-erasures=1",
            "--small-packages=1",
            "--web-workers=2",
            "--drain=150",
            f"--results={results}",
        ],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, failure_report(proc, results)
    figures = json.loads(results.read_text())
    assert figures["requests"] == 300
    assert [row["fault"] for row in figures["rows"]] == [
        "no fault",
        "Redis frozen (SIGSTOP)",
        "Redis killed, restarted empty",
        "worker SIGKILL during erasure",
        "worker SIGKILL during package build",
        "PostgreSQL restart during sweep",
        "beat SIGKILL",
    ]
    assert sum(row["lost"] + row["duplicated"] for row in figures["rows"]) == 0
    assert figures["sweep"]["disturbed"] == figures["sweep"]["undisturbed"]
    assert figures["audit_chain_ok"] is True


def failure_report(proc: subprocess.CompletedProcess, results: Path) -> str:
    """What the run found, first: its table and failed checks, then the end of its log."""
    found = results.read_text() if results.exists() else "(no results written)"
    failed = [line for line in proc.stderr.splitlines() if "FAILED:" in line or "fault" in line]
    return "\n".join([proc.stdout[-4000:], *failed, found[-4000:], proc.stderr[-3000:]])
