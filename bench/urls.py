"""The portal's URLs plus the benchmark's baselines behind the same middleware.

- `bench/empty`: an empty view (the issue's comparison);
- `bench/floor`: the least a durable intake can do: parse the JSON body and
  INSERT it as one row in its own committed transaction (the table is made by
  bench/intake.py).
"""

import json

from django.db import connection, transaction
from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from bench.common import FLOOR_TABLE


@csrf_exempt
def empty(request):
    return JsonResponse({})


@csrf_exempt
def floor(request):
    body = json.loads(request.body)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {FLOOR_TABLE} (body) VALUES (%s) RETURNING id",  # noqa: S608
            [json.dumps(body)],
        )
        (row_id,) = cursor.fetchone()
    return JsonResponse({"id": row_id}, status=201)


urlpatterns = [
    path("bench/empty", empty),
    path("bench/floor", floor),
    path("", include("portal.urls")),
]
