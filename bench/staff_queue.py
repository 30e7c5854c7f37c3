"""Benchmark of the staff queue page (issue 7) with 100,000 requests.

    .venv/bin/python bench/staff_queue.py [--requests 100000] [--repeat 20]

In one run it starts real servers and a fresh database (bench.common),
generates N verified requests over the five organisations with set-based SQL
(kinds, statuses, due dates, assignees and names spread realistically),
signs in a staff member of all five organisations (password and TOTP, as the
real flow leaves the session) and renders the queue page through Django's
full middleware stack in this process, for a set of views a handler uses:
the default queue, deep pages, each filter, and searches by reference, name
and e-mail. It prints p50/p95 per view and overall, the number of SQL
queries per page (which must not grow with the page's rows) and the plan of
the default page's query, and writes `bench/results/staff_queue.json`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import BenchStack, log, results_write, summary_ms, verdict  # noqa: E402

TARGET_P95_MS = 150

# kind, status and name mixes (weights sum to 1 within each list)
KINDS = [
    ("access", 0.35),
    ("erasure", 0.25),
    ("objection", 0.12),
    ("rectification", 0.08),
    ("restriction", 0.05),
    ("portability", 0.05),
    ("consent_withdrawal", 0.10),
]
STATUSES = [
    ("completed", 0.55),
    ("new", 0.12),
    ("in_progress", 0.12),
    ("awaiting_subject", 0.04),
    ("approved", 0.03),
    ("fulfilling", 0.02),
    ("refused", 0.06),
    ("cancelled", 0.03),
    ("linked", 0.01),
    ("unverified", 0.02),
]
SURNAMES = ["Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson"]
GIVEN = ["Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Eva", "Per", "Lena", "Nils"]


def _pick_sql(mix: list[tuple[str, float]], column: str) -> str:
    """A CASE that maps a uniform random `column` to a value by weight."""
    branches, edge = [], 0.0
    for value, weight in mix[:-1]:
        edge += weight
        branches.append(f"WHEN {column} < {edge:.4f} THEN '{value}'")
    return f"CASE {' '.join(branches)} ELSE '{mix[-1][0]}' END"


def generate(n: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from retention.models import Organisation, StaffMembership

    user_model = get_user_model()
    staff = user_model.objects.create_user(username="bench-handler", password="x" * 20)
    TOTPDevice.objects.create(user=staff, name="TOTP", confirmed=True)
    colleagues = [
        user_model.objects.create_user(username=f"bench-colleague-{i}", password="x" * 20)
        for i in range(4)
    ]
    for organisation in Organisation.objects.all():
        StaffMembership.objects.create(user=staff, organisation=organisation, role="approver")
        for colleague in colleagues:
            StaffMembership.objects.create(
                user=colleague, organisation=organisation, role="handler"
            )
    assignees = [staff.pk] + [c.pk for c in colleagues]
    org_ids = list(Organisation.objects.order_by("pk").values_list("pk", flat=True))
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.17)")
        cursor.execute(
            f"""
            INSERT INTO requests_app_subjectrequest (
                organisation_id, reference, kind, status, email, full_name, phone,
                personnummer, customer_number, language, details, received_at,
                original_due_date, extended_due_date, extension_reason, extended_at,
                due_date, verified_at, assignee_id, match_method, match_summary,
                created_at, updated_at)
            SELECT (%(orgs)s::int[])[1 + (i %% %(n_orgs)s)],
                   'DSR-' || upper(substr(md5(i::text), 1, 4)) || '-'
                          || upper(substr(md5(i::text), 5, 4)) || '-' || lpad(i::text, 6, '0'),
                   {_pick_sql(KINDS, "x.k")},
                   {_pick_sql(STATUSES, "x.s")},
                   'person' || i || '@example.se',
                   (%(given)s::text[])[1 + (i %% 10)] || ' '
                       || (%(surnames)s::text[])[1 + ((i / 10) %% 7)] || ' ' || i,
                   '', '', '', CASE WHEN x.l < 0.8 THEN 'sv' ELSE 'en' END, '{{}}'::jsonb,
                   x.received, (x.received + interval '1 month')::date, NULL, '', NULL,
                   (x.received + interval '1 month')::date,
                   x.received + interval '5 minutes',
                   CASE WHEN x.a < 0.5 THEN (%(assignees)s::int[])[1 + (i %% 5)] END,
                   'email', '', x.received, x.received
              FROM (SELECT i, random() AS k, random() AS s, random() AS l, random() AS a,
                           now() - random() * interval '400 days' AS received
                      FROM generate_series(1, %(n)s) i) x
            """,
            {
                "orgs": org_ids,
                "n_orgs": len(org_ids),
                "given": GIVEN,
                "surnames": SURNAMES,
                "assignees": assignees,
                "n": n,
            },
        )
        # Open requests are recent: move their receipt into the last 6 weeks.
        cursor.execute(
            "UPDATE requests_app_subjectrequest SET "
            "received_at = now() - (id % 42) * interval '1 day', "
            "original_due_date = (now() - (id % 42) * interval '1 day' + interval '1 month'), "
            "due_date = (now() - (id % 42) * interval '1 day' + interval '1 month') "
            "WHERE status IN ('new', 'in_progress', 'awaiting_subject', 'approved', 'fulfilling')"
        )
        cursor.execute(
            "UPDATE requests_app_subjectrequest SET verified_at = NULL WHERE status = 'unverified'"
        )
        cursor.execute("VACUUM ANALYZE requests_app_subjectrequest")
        cursor.execute(
            "SELECT count(*) FILTER (WHERE status IN "
            "('new', 'in_progress', 'awaiting_subject', 'approved', 'fulfilling')) "
            "FROM requests_app_subjectrequest"
        )
        open_count = cursor.fetchone()[0]
        cursor.execute(
            "SELECT reference, email, full_name FROM requests_app_subjectrequest "
            "WHERE status = 'in_progress' ORDER BY id LIMIT 1"
        )
        sample = cursor.fetchone()
    log(f"{n:,} requests ({open_count:,} open) in {time.perf_counter() - started:.1f} s")
    return {"user": staff, "open": open_count, "sample": sample, "org_slug": "framsteget"}


def signed_in_client(user):
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from requests_app.staff import session as staff_views

    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    session = client.session
    now = time.time()
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    session[staff_views.AUTH_AT] = now
    session[staff_views.SEEN_AT] = now
    session[staff_views.REAUTH_AT] = now
    session.save()
    return client


def _counting(queries: list[str]):
    """An execute wrapper that notes every statement (kept across reconnects)."""

    def wrapper(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    return wrapper


def views(data: dict) -> dict[str, str]:
    reference, email, full_name = data["sample"]
    slug = data["org_slug"]
    return {
        "default (open, by due date)": "/staff/",
        "page 20": "/staff/?page=20",
        "organisation": f"/staff/?organisation={slug}",
        "kind + status": "/staff/?kind=erasure&status=new",
        "assigned to me": "/staff/?assignee=me",
        "due within 7 days": "/staff/?due_within=7",
        "overdue": "/staff/?overdue=1",
        "awaiting the person": "/staff/?awaiting=1",
        "all statuses, page 100": "/staff/?status=all&page=100",
        "search reference": f"/staff/?q={reference}",
        "search e-mail": f"/staff/?q={email}",
        "search name": f"/staff/?q={full_name.split()[1]}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20, help="timed renders per view")
    args = parser.parse_args()

    with BenchStack("staff_queue") as _stack:
        from django.db import connection

        from requests_app.selectors import queue as sel

        data = generate(args.requests)
        client = signed_in_client(data["user"])
        per_view, all_times = {}, []
        for name, url in views(data).items():
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}")
            queries: list[str] = []
            with connection.execute_wrapper(_counting(queries)):
                client.get(url)
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                response = client.get(url)
                times.append(time.perf_counter() - started)
            rows = max(0, response.content.count(b"<tr>") - 1)  # minus the header
            per_view[name] = {"url": url, "queries": len(queries), **summary_ms(times)}
            all_times.extend(times)
            log(
                f"{name:28} p50 {per_view[name]['p50_ms']:7.1f} ms  "
                f"p95 {per_view[name]['p95_ms']:7.1f} ms  {len(queries):2} queries"
                + (f"  ({rows} rows)" if rows else "")
            )
        queryset = sel.queue_requests(
            user=data["user"],
            organisation_id=None,
            kind="",
            status="open",
            assignee="",
            due_within=None,
            overdue=False,
            awaiting=False,
            q="",
            today=sel.local_today(),
        )
        plan = queryset[:50].explain()

    overall = summary_ms(all_times)
    query_counts = sorted({v["queries"] for v in per_view.values()})
    print()
    print(f"staff queue, {args.requests:,} requests ({data['open']:,} open), 50 per page")
    print(f"  all views: p50 {overall['p50_ms']} ms, p95 {overall['p95_ms']} ms")
    print(f"  target p95 < {TARGET_P95_MS} ms: {verdict(overall['p95_ms'], TARGET_P95_MS)}")
    print(f"  queries per page: {', '.join(map(str, query_counts))} (independent of rows)")
    print("  plan of the default page:")
    print("    " + plan.replace("\n", "\n    "))
    results_write(
        "staff_queue",
        {
            "settings": vars(args),
            "open_requests": data["open"],
            "overall": overall,
            "views": per_view,
            "default_plan": plan,
        },
    )


if __name__ == "__main__":
    main()
