"""Where the CPU goes under submit load: CPU time per request of gunicorn, PostgreSQL, Redis,
the RQ workers and wrk, read from /proc while `wrk` posts single-row predictions.

    .venv/bin/python bench/cpu_split.py            # the API alone (workers stopped)
    .venv/bin/python bench/cpu_split.py --workers  # with 2 workers running what is submitted
    .venv/bin/python bench/cpu_split.py --minimal  # bench/minimal_django.py (the ceiling)

Uses the bench database and Redis db of `make bench` (and recreates them). Not part of `make
bench`: it explains its figures.
"""

import collections
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg  # noqa: E402
import redis  # noqa: E402
import run  # noqa: E402

NAMES = {"gunicorn": "gunicorn", "postgres": "postgres", "redis-server": "redis", "wrk": "wrk"}


def cpu_seconds() -> collections.Counter:
    """CPU seconds so far of every process, by command name."""
    ticks = collections.Counter()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks[name] += int(fields[11]) + int(fields[12])
    return collections.Counter({k: v / os.sysconf("SC_CLK_TCK") for k, v in ticks.items()})


def measure(port: int, seconds: int = 10) -> tuple[dict, dict]:
    result: dict = {}
    load = threading.Thread(target=lambda: result.update(run.wrk(seconds + 5, port=port)))
    load.start()
    time.sleep(3)
    before, started = cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    after, elapsed = cpu_seconds(), time.monotonic() - started
    load.join()
    used = {name: (after[name] - before.get(name, 0)) / elapsed for name in after}
    return result, used


def report(result: dict, used: dict) -> None:
    rps = result["rps"]
    print(f"{rps:.0f} req/s, p50 {result['p50_ms']:.1f} ms, non-2xx {result['non2xx']}")
    kinds = collections.Counter()
    for name, share in used.items():
        kind = NAMES.get(name, "workers" if name == "python" else None)
        if kind:
            kinds[kind] += share
    for kind, share in kinds.most_common():
        print(
            f"  {kind:9s} {share * 100:4.0f}% of a core = {share / rps * 1000:.2f} ms CPU/request"
        )
    total = sum(kinds.values())
    print(f"  all       {total * 100:4.0f}% of a core = {total / rps * 1000:.2f} ms CPU/request")


def main() -> None:
    run.OUT.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(f"{run.PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{run.DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{run.DB}"')
    redis.Redis.from_url(run.REDIS_URL).flushdb()
    run.manage("migrate", "--no-input", "-v", "0")
    run.manage("seed_demo_models")
    if "--minimal" in sys.argv:
        web = run.start_minimal_app(run.PORT + 1)
        try:
            report(*measure(run.PORT + 1))
        finally:
            run.stop_minimal_app(web)
        return
    stack = run.Stack()
    try:
        stack.start_web()
        if "--workers" in sys.argv:
            stack.start_workers()
        run.TOKEN = run.login()
        report(*measure(run.PORT))
        if "--workers" in sys.argv:
            time.sleep(2)
            connection = redis.Redis.from_url(run.REDIS_URL)
            jobs = sum(
                int(connection.hget(key, "successful_job_count") or 0)
                for key in connection.keys("rq:worker:*")
                if connection.type(key) == b"hash"
            )
            done = run.sql(
                "SELECT count(*) FROM predictions_prediction WHERE status = 'succeeded'"
            )[0][0]
            print(f"  {done} predictions succeeded in {jobs} RQ jobs")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
