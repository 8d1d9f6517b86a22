"""Time (and optionally profile) the submit path in-process, against a bench database.

Each one-row submit goes through Django's WSGI handler (every middleware, authentication, the
view, the INSERT and the enqueue) as the `bench` user with the demo iris row. It prints the SQL
statements one submit sends, then CPU (`time.process_time()`, which a busy machine changes less
than a wall-clock rate) and wall time per submit over N (default 2,000) after 50 to warm up;
`--profile` prints cProfile's heaviest functions instead.

Run after `make bench`, which leaves the database `mlservice_bench` with the demo models and the
`bench` user: `.venv/bin/python bench/profile_submit.py [--profile]`. To compare two trees (issue
13's before/after), migrate a database with each (`BENCH_DB=NAME BENCH_ONLY=e2e
BENCH_E2E_SECONDS=3 BENCH_TREE=TREE bench/run.py`), then run this file against each:
`BENCH_TREE=TREE BENCH_DB=NAME .venv/bin/python bench/profile_submit.py`. Jobs go to Redis
database 13, which it empties at the end.
"""

import os
import sys
import time
from io import BytesIO
from pathlib import Path

TREE = os.environ.get("BENCH_TREE") or str(Path(__file__).resolve().parent.parent)
sys.path.insert(0, TREE)
DB = os.environ.get("BENCH_DB") or "mlservice_bench"
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "mlservice.settings",
        "DEBUG": "false",
        "SECRET_KEY": "profile-only-" + "x" * 40,
        "JWT_SIGNING_KEY": "profile-only-" + "y" * 40,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB}",
        "REDIS_URL": "redis://127.0.0.1:6379/13",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "ACCESS_LOG_LEVEL": "WARNING",
        "PREDICTION_RATE_PER_MINUTE": "0",
        "PREDICTION_ROWS_PER_DAY": "0",
    }
)

import django  # noqa: E402

django.setup()

import orjson  # noqa: E402
import psycopg  # noqa: E402
import redis  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from rest_framework_simplejwt.tokens import AccessToken  # noqa: E402

from accounts.models import User  # noqa: E402

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
BODY = orjson.dumps({"model": "iris", "input": ROW})


def submitter():
    app = WSGIHandler()
    token = str(AccessToken.for_user(User.objects.get(username="bench")))

    def submit():
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/v1/predictions/",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8400",
            "HTTP_HOST": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.input": BytesIO(BODY),
            "CONTENT_LENGTH": str(len(BODY)),
            "CONTENT_TYPE": "application/json",
            "HTTP_AUTHORIZATION": f"Bearer {token}",
        }
        status = []
        b"".join(app(environ, lambda line, headers: status.append(line)))
        assert status[0].startswith("20"), status

    return submit


def statements_per_submit(submit) -> int:
    # The hot-path statements run on plain psycopg cursors (mlservice/rawsql.py), which
    # Django's query log does not see: count what reaches psycopg instead.
    sent = []
    original = psycopg.Cursor.execute

    def counting(cursor, query, *args, **kwargs):
        sent.append(query)
        return original(cursor, query, *args, **kwargs)

    psycopg.Cursor.execute = counting
    try:
        submit()
    finally:
        psycopg.Cursor.execute = original
    return len(sent)


def main() -> None:
    submit = submitter()
    for _ in range(50):
        submit()
    print(f"{statements_per_submit(submit)} SQL statements per submit")
    n = int(os.environ.get("N", "2000"))
    if "--profile" in sys.argv:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(n):
            submit()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
    else:
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(n):
            submit()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"CPU {cpu / n * 1e6:.0f} µs per submit, wall {wall / n * 1e6:.0f} µs (in-process)")
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()


if __name__ == "__main__":
    main()
