"""Benchmark of the access package (Art. 15) of a subject with 10,000 records (issue 7).

    .venv/bin/python bench/access_package.py [--records 10000] [--repeat 3]

In one run it starts real servers and a fresh database (bench.common),
gives one FRAMSTEGET subject N records spread over every category of the
policy (with disclosures to its recipients), files an approved access
request matched to that subject and builds its package as the worker does
(`requests_app.services.packages.package_start`: the HTML report and the
JSON in one ZIP, encrypted at rest). It times each build, samples this
process's RSS every 20 ms during the build (peak growth over the RSS before
it), does the same for a subject with N/10 records (memory must not grow
with the records: the build streams), then decrypts the last package and
checks that the JSON holds all N records. Prints the figures against the
issue's target and writes `bench/results/access_package.json`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import BenchStack, log, results_write, summary_ms, verdict  # noqa: E402

TARGET_SECONDS = 2.0
MB = 1024 * 1024


def subject_with_records(n: int, label: str) -> int:
    """A FRAMSTEGET subject with n records over every category, via set-based SQL."""
    from django.db import connection

    from retention.models import DataSubject, Organisation, SubjectIdentifier
    from retention.services.expiry import records_refresh

    organisation = Organisation.objects.get(slug="framsteget")
    subject = DataSubject.objects.create(organisation=organisation, external_id=f"bench-{label}")
    SubjectIdentifier.objects.create(
        subject=subject, kind="email", value=f"{label}@example.se", organisation=organisation
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO retention_record (
                organisation_id, subject_id, category_id, purpose_id, rule_id, external_id,
                data, source, source_detail, collected_at, last_contact_at, contract_ended_at,
                purpose_ended_at, settled_at, expires_at, restricted_at, restriction_ground,
                anonymised_at, created_at, updated_at)
            SELECT %(org)s, %(subject)s, c.id, p.id, NULL, %(label)s || '-' || g,
                   jsonb_build_object('note', 'record ' || g || ' of the benchmark',
                                      'amount', g * 10, 'reference', md5(g::text)),
                   'provided', '', now() - g * interval '1 hour', NULL, NULL, NULL, NULL,
                   NULL, NULL, '', NULL, now(), now()
              FROM generate_series(1, %(n)s) g
              JOIN LATERAL (
                  SELECT id, row_number() OVER (ORDER BY key) - 1 AS i,
                         count(*) OVER () AS total
                    FROM retention_datacategory WHERE organisation_id = %(org)s
              ) c ON c.i = g %% c.total
              JOIN LATERAL (
                  SELECT id FROM retention_purpose
                   WHERE organisation_id = %(org)s ORDER BY (id + g) %% 7, id LIMIT 1
              ) p ON true
            """,
            {"org": organisation.pk, "subject": subject.pk, "label": label, "n": n},
        )
        cursor.execute(
            """
            INSERT INTO retention_disclosure (organisation_id, recipient_id, subject_id,
                record_id, category_id, disclosed_at, external_id)
            SELECT r.organisation_id, rc.id, r.subject_id, r.id, r.category_id, now(),
                   'bench-d' || r.id
              FROM retention_record r
              JOIN LATERAL (SELECT id FROM retention_recipient
                             WHERE organisation_id = r.organisation_id
                             ORDER BY (id + r.id) %% 5, id LIMIT 1) rc ON true
             WHERE r.subject_id = %s AND r.id %% 50 = 0
            """,
            [subject.pk],
        )
    records_refresh(organisation=organisation)
    return subject.pk


def approved_access_request(subject_id: int, label: str):
    from django.utils import timezone

    from requests_app import deadlines
    from requests_app.models import (
        MatchMethod,
        ProofMethod,
        RequestStatus,
        RequestSubjectMatch,
        SubjectRequest,
    )
    from requests_app.services.requests import reference_generate
    from retention.models import Organisation

    organisation = Organisation.objects.get(slug="framsteget")
    now = timezone.now()
    due = deadlines.due_date_for(now, organisation.time_zone)
    request = SubjectRequest.objects.create(
        organisation=organisation,
        reference=reference_generate(),
        kind="access",
        status=RequestStatus.APPROVED,
        email=f"{label}@example.se",
        full_name="Bench Person",
        language="sv",
        details={"format": "html"},
        received_at=now,
        original_due_date=due,
        due_date=due,
        verified_at=now,
        match_method=MatchMethod.EMAIL,
    )
    RequestSubjectMatch.objects.create(
        request=request,
        subject_id=subject_id,
        method=MatchMethod.EMAIL,
        proven_by=ProofMethod.EMAIL,
    )
    return request


def build(subject_id: int, label: str) -> dict:
    import psutil

    from bench.retention_sweep import RssSampler
    from requests_app.services.packages import package_start

    request = approved_access_request(subject_id, label)
    pid = os.getpid()
    before = psutil.Process(pid).memory_info().rss
    with RssSampler(lambda: [pid], interval=0.02) as sampler:
        started = time.perf_counter()
        package = package_start(request_id=request.pk)
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rss_growth_mb": round(max(0, sampler.peak.get(pid, before) - before) / MB, 1),
        "size_bytes": package.size,
        "package": package,
    }


def records_in_package(package) -> tuple[int, list[str]]:
    from requests_app.services.packages.download import package_open

    raw, reader = package_open(package)
    with raw:
        data = b"".join(reader.iter_chunks())
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        content = json.loads(archive.read(next(n for n in names if n.endswith(".json"))))
    count = 0

    def walk(node) -> None:
        nonlocal count
        if isinstance(node, dict):
            if "records" in node and isinstance(node["records"], list):
                count += len(node["records"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(content)
    return count, names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with BenchStack("access_package"):
        small = subject_with_records(max(1, args.records // 10), "small")
        large = subject_with_records(args.records, "large")
        log(f"subjects with {args.records // 10:,} and {args.records:,} records")
        build(small, "warm")  # imports, templates, translations
        runs = {"small": [], "large": []}
        for round_no in range(args.repeat):
            for name, subject_id in (("small", small), ("large", large)):
                run = build(subject_id, f"{name}-{round_no}")
                runs[name].append(run)
                log(
                    f"{name:5}: {run['seconds'] * 1000:7.0f} ms, "
                    f"RSS growth {run['rss_growth_mb']} MB, {run['size_bytes'] / MB:.1f} MB file"
                )
        count, names = records_in_package(runs["large"][-1]["package"])

    timing = {name: summary_ms([r["seconds"] for r in rs]) for name, rs in runs.items()}
    growth = {name: max(r["rss_growth_mb"] for r in rs) for name, rs in runs.items()}
    p50_s = timing["large"]["p50_ms"] / 1000
    print()
    print(f"access package of one subject, {args.records:,} records ({args.repeat} builds)")
    print(f"  time p50 {p50_s:.2f} s, max {timing['large']['max_ms'] / 1000:.2f} s")
    print(f"  target < {TARGET_SECONDS} s: {verdict(timing['large']['max_ms'] / 1000, 2.0)}")
    print(
        f"  peak RSS growth: {growth['large']} MB for {args.records:,} records, "
        f"{growth['small']} MB for {args.records // 10:,} (streamed: it should not scale)"
    )
    print(f"  ZIP members: {', '.join(names)}; records in the JSON: {count:,}")
    if count != args.records:
        sys.exit("the package does not hold every record")
    results_write(
        "access_package",
        {
            "settings": vars(args),
            "timing": timing,
            "rss_growth_mb": growth,
            "size_bytes": runs["large"][-1]["size_bytes"],
            "members": names,
            "records_in_json": count,
        },
    )


if __name__ == "__main__":
    main()
