"""Time (and optionally profile) the submit path in-process, against the bench database.

Run after `make bench` (which leaves the database `mlservice_bench` with the demo models and the
`bench` user): `.venv/bin/python bench/profile_submit.py [--profile]`.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "mlservice.settings",
        "DEBUG": "false",
        "SECRET_KEY": "profile-only-" + "x" * 40,
        "JWT_SIGNING_KEY": "profile-only-" + "y" * 40,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/mlservice_bench",
        "REDIS_URL": "redis://127.0.0.1:6379/12",
        "ALLOWED_HOSTS": "testserver",
        "LOG_LEVEL": "WARNING",
        "ACCESS_LOG_LEVEL": "WARNING",
        "PREDICTION_RATE_PER_MINUTE": "0",
        "PREDICTION_ROWS_PER_DAY": "0",
    }
)

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402
from rest_framework_simplejwt.tokens import AccessToken  # noqa: E402

from accounts.models import User  # noqa: E402

BODY = {
    "model": "iris",
    "input": {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
}


def main() -> None:
    client = APIClient()
    token = AccessToken.for_user(User.objects.get(username="bench"))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    for _ in range(20):
        client.post("/api/v1/predictions/", BODY, format="json")
    # The hot-path statements run on plain psycopg cursors (mlservice/rawsql.py), which
    # Django's query log does not see: count what reaches psycopg instead.
    sent = []
    original = psycopg.Cursor.execute

    def counting(cursor, query, *args, **kwargs):
        sent.append(query)
        return original(cursor, query, *args, **kwargs)

    psycopg.Cursor.execute = counting
    try:
        client.post("/api/v1/predictions/", BODY, format="json")
    finally:
        psycopg.Cursor.execute = original
    print(f"{len(sent)} SQL statements per submit")
    n = 300
    started = time.perf_counter()
    for _ in range(n):
        client.post("/api/v1/predictions/", BODY, format="json")
    print(f"{(time.perf_counter() - started) / n * 1000:.1f} ms per submit (in-process)")
    started = time.perf_counter()
    for _ in range(50):
        sum(range(100_000))
    print(f"CPU yardstick: sum(range(100000)) {(time.perf_counter() - started) / 50 * 1000:.2f} ms")
    if "--profile" in sys.argv:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(200):
            client.post("/api/v1/predictions/", BODY, format="json")
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
