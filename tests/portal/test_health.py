"""GET /healthz tells the truth about the database, Redis and the workers."""

import time


def test_it_answers_200_when_database_redis_and_a_worker_are_up(client, db, worker):
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["redis"]["ok"]
    assert body["workers"] == {**body["workers"], "ok": True, "count": 1}
    assert response["Cache-Control"].startswith("max-age=0")


def test_it_answers_503_when_no_worker_answers(client, db, private_redis):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["workers"]["ok"] is False
    assert response.json()["redis"]["ok"] is True


def test_it_answers_503_when_redis_is_stopped(client, db, private_redis):
    private_redis.stop()
    started = time.monotonic()
    response = client.get("/healthz")
    assert time.monotonic() - started < 5, "a stopped Redis must not hang the health check"
    assert response.status_code == 503
    body = response.json()
    assert body["redis"]["ok"] is False
    assert body["workers"]["ok"] is False
    assert body["database"]["ok"] is True
