"""Benchmark of intake (issue 7): `POST /api/v1/requests` under gunicorn.

    .venv/bin/python bench/intake.py [--seconds 20] [--connections 16] [--workers 4]

Needs `wrk` (Debian: `apt-get install wrk`). In one run it:

1. starts real servers and a fresh database (bench.common.BenchStack),
2. runs gunicorn with the portal's settings plus an empty view behind the
   same middleware (`bench/settings.py`, `bench/urls.py`; rate limits off,
   since every request comes from one address),
3. alternates wrk runs against the empty view, a floor view and the intake
   API (16 connections, each intake request with its own e-mail address, so
   the full path runs: validation, the request row, its event, the outbox
   message with the verification e-mail, the audit entry, the publish to
   Redis after commit). The floor view parses the same JSON and INSERTs it
   as one row in a committed transaction: the least any durable intake does,
4. prints requests/s of each, the ratios and the p50/p95 latencies (medians
   over the rounds) against the issue's targets, checks that every 201 left
   a stored request, and writes `bench/results/intake.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    BASE_DIR,
    FLOOR_TABLE,
    BenchStack,
    log,
    results_write,
    verdict,
)

TARGET_RATIO = 0.30
TARGET_P95_MS = 100


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(url, data=b"{}", method="POST")
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not answer at {url}")


def wrk(base: str, mode: str, tag: str, seconds: int, connections: int) -> dict:
    out = subprocess.run(
        [
            "wrk",
            "--threads",
            "2",
            "--connections",
            str(connections),
            "--duration",
            f"{seconds}s",
            "--timeout",
            "10s",
            "--script",
            str(BASE_DIR / "bench" / "intake.lua"),
            base,
            "--",
            mode,
            tag,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    figures = json.loads(line.removeprefix("WRKJSON "))
    seconds_run = figures["duration_us"] / 1e6
    return {
        "rps": round(figures["requests"] / seconds_run, 1),
        "requests": figures["requests"],
        "ok": figures["ok"],
        "non2xx": figures["non2xx"],
        "socket_errors": figures["socket_errors"],
        "p50_ms": round(figures["p50_us"] / 1000, 2),
        "p95_ms": round(figures["p95_us"] / 1000, 2),
        "p99_ms": round(figures["p99_us"] / 1000, 2),
    }


def median_of(runs: list[dict], key: str) -> float:
    return round(statistics.median(run[key] for run in runs), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="empty/intake pairs")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")

    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    with BenchStack("intake") as stack:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TABLE {FLOOR_TABLE} (id bigserial PRIMARY KEY, body jsonb)")
        connection.close()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        stack.spawn(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "portal.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.workers),
                "--log-level",
                "warning",
            ]
        )
        wait_until_up(f"{base}/bench/empty")
        log(f"gunicorn with {args.workers} workers at {base}")
        modes = ("empty", "floor", "intake")
        for mode in modes:
            wrk(base, mode, "warm", 3, args.connections)

        runs: dict[str, list[dict]] = {mode: [] for mode in modes}
        for round_no in range(1, args.rounds + 1):
            for mode in modes:
                figures = wrk(base, mode, f"r{round_no}", args.seconds, args.connections)
                runs[mode].append(figures)
                log(
                    f"round {round_no} {mode:6}: {figures['rps']:8.1f} req/s, "
                    f"p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, "
                    f"non-2xx {figures['non2xx']}, socket errors {figures['socket_errors']}"
                )

        from requests_app.models import OutboxMessage, SubjectRequest

        stored = SubjectRequest.objects.filter(email__startswith="bench-r").count()
        created = sum(run["ok"] for run in runs["intake"])
        outbox = OutboxMessage.objects.count()

    empty_rps = median_of(runs["empty"], "rps")
    floor_rps = median_of(runs["floor"], "rps")
    intake_rps = median_of(runs["intake"], "rps")
    ratio = intake_rps / empty_rps
    p95 = median_of(runs["intake"], "p95_ms")
    print()
    print(f"intake benchmark: {args.connections} connections, gunicorn {args.workers} workers, ")
    print(f"{args.rounds} rounds of {args.seconds} s each (medians)")
    for label, mode in (
        ("empty view", "empty"),
        ("floor view", "floor"),
        ("POST requests", "intake"),
    ):
        print(
            f"  {label:14} {median_of(runs[mode], 'rps'):8.1f} req/s"
            f"  p50 {median_of(runs[mode], 'p50_ms')} ms  p95 {median_of(runs[mode], 'p95_ms')} ms"
        )
    met = verdict(ratio, TARGET_RATIO, lower_is_better=False)
    print(f"  intake / empty view {ratio:.0%} (target >= {TARGET_RATIO:.0%}: {met})")
    print(
        f"  floor / empty view {floor_rps / empty_rps:.0%}, "
        f"intake / floor {intake_rps / floor_rps:.0%}"
    )
    print(f"  p95 {p95} ms (target < {TARGET_P95_MS} ms: {verdict(p95, TARGET_P95_MS)})")
    print(f"  201 responses {created}, requests stored {stored}, outbox messages {outbox}")
    # Requests still in flight when wrk stops are stored without being counted.
    if stored < created:
        sys.exit("a created request is missing from the database")
    results_write(
        "intake",
        {
            "settings": vars(args),
            "runs": runs,
            "empty_rps": empty_rps,
            "floor_rps": floor_rps,
            "intake_rps": intake_rps,
            "ratio": round(ratio, 3),
            "floor_ratio": round(floor_rps / empty_rps, 3),
            "intake_to_floor": round(intake_rps / floor_rps, 3),
            "intake_p50_ms": median_of(runs["intake"], "p50_ms"),
            "intake_p95_ms": p95,
            "created": created,
            "stored": stored,
        },
    )


if __name__ == "__main__":
    main()
