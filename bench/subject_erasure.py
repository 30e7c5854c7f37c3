"""Benchmark of erasing one data subject among 1,000,000 records (issue 7).

    .venv/bin/python bench/subject_erasure.py [--records 1000000] [--subjects 20]

In one run it starts real servers and a fresh database (bench.common),
generates the retention benchmark's data set (bench/retention_sweep.py:
five organisations, N records, N/10 subjects, disclosures, legal holds),
then erases, one after another, `--subjects` FRAMSTEGET customers that have
invoices (so every plan mixes delete, reduce-to-bookkeeping-fields and,
where held, keep). For each it times the whole erasure as a worker runs it:
the plan (`erasure_job_create`), the approval and the execution
(`erasure_execute`: batches, Art. 19 disclosure unlinking, the audit entry).
It prints p50/p95 against the issue's target and the query plans of the
plan query and of one execution batch, which must use indexes (no
sequential scan on `retention_record`), and writes
`bench/results/subject_erasure.json`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import BenchStack, log, results_write, summary_ms, verdict  # noqa: E402

TARGET_P95_MS = 200


def pick_subjects(count: int) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT r.subject_id
              FROM retention_record r
              JOIN retention_organisation o ON o.id = r.organisation_id AND o.slug = 'framsteget'
              JOIN retention_datacategory c ON c.id = r.category_id AND c.key = 'invoice'
             WHERE r.settled_at IS NOT NULL
             GROUP BY r.subject_id
            HAVING count(*) >= 1
             ORDER BY r.subject_id
             LIMIT %s
            """,
            [count],
        )
        return [row[0] for row in cursor.fetchall()]


def explain(sql: str, params: dict, *, analyze: bool) -> str:
    from django.db import connection, transaction

    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN "
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(prefix + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--subjects", type=int, default=20, help="subjects erased (timed)")
    args = parser.parse_args()

    with BenchStack("subject_erasure"):
        from django.db import connection
        from django.utils import timezone

        from bench.retention_sweep import Bench as SweepBench
        from retention.models import Organisation, Record
        from retention.services import erasure
        from retention.services.jobs import job_approve, job_claim

        started = time.perf_counter()
        SweepBench.dataset_generate(args.records, dt.datetime.now(dt.UTC).replace(microsecond=0))
        total = Record.objects.count()
        log(f"{total:,} records generated in {time.perf_counter() - started:.0f} s")

        organisation = Organisation.objects.get(slug="framsteget")
        subjects = pick_subjects(args.subjects + 1)
        warm, subjects = subjects[0], subjects[1:]
        plan_params = {
            "org": organisation.pk,
            "subjects": [subjects[0]],
            "categories": None,
            "now": timezone.now(),
        }
        plan_sql_plan = explain(erasure.PLAN_SQL, plan_params, analyze=True)
        sample_plan = erasure.erasure_plan(organisation=organisation, subject_ids=[subjects[0]])
        execute_plan = explain(
            erasure.EXECUTE_SQL,
            {"items": json.dumps(sample_plan), "org": organisation.pk, "now": timezone.now()},
            analyze=False,
        )

        def erase(subject_id: int) -> dict:
            job = erasure.erasure_job_create(
                organisation=organisation, subject_ids=[subject_id], reference="bench"
            )
            job_approve(job=job)
            job = job_claim(job_id=job.pk, worker="bench")
            erasure.erasure_execute(job=job, worker="bench")
            job.refresh_from_db()
            return {"records": len(job.plan), **job.result}

        erase(warm)
        times, outcomes = [], []
        for subject_id in subjects:
            t = time.perf_counter()
            outcomes.append(erase(subject_id))
            times.append(time.perf_counter() - t)
        left = Record.objects.filter(subject_id__in=subjects).count()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM retention_record")
            after = cursor.fetchone()[0]

    figures = summary_ms(times)
    seq_scans = [
        name
        for name, plan in (("plan", plan_sql_plan), ("execute", execute_plan))
        if "Seq Scan on retention_record" in plan
    ]
    records = [o["records"] for o in outcomes]
    print()
    print(f"erasure of one subject among {total:,} records ({len(subjects)} subjects, one by one)")
    print(
        f"  records per subject: {min(records)}-{max(records)}; "
        f"deleted {sum(o.get('deleted', 0) for o in outcomes)}, "
        f"reduced {sum(o.get('reduced', 0) for o in outcomes)}, "
        f"kept {sum(o.get('kept', 0) for o in outcomes)}; {left} kept records left"
    )
    print(f"  plan + approve + execute: p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms")
    print(f"  target p95 < {TARGET_P95_MS} ms: {verdict(figures['p95_ms'], TARGET_P95_MS)}")
    print(f"  sequential scans on retention_record: {', '.join(seq_scans) or 'none'}")
    print("  plan query (EXPLAIN ANALYZE):")
    print("    " + plan_sql_plan.replace("\n", "\n    "))
    print("  one execution batch (EXPLAIN):")
    print("    " + execute_plan.replace("\n", "\n    "))
    results_write(
        "subject_erasure",
        {
            "settings": vars(args),
            "records_before": total,
            "records_after": after,
            "timing": figures,
            "outcomes": outcomes,
            "sequential_scans": seq_scans,
            "plan_query_plan": plan_sql_plan,
            "execute_plan": execute_plan,
        },
    )
    if seq_scans:
        sys.exit("a sequential scan on retention_record")


if __name__ == "__main__":
    main()
