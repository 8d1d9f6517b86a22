"""gunicorn settings shared by `make run` and the Docker image.

Threads rather than more processes: long-polling requests (`?wait=`) sleep most of the time, and
the CPU-bound work (inference) runs in RQ workers, not here. One process per CPU this container
may use (its cgroup quota or affinity mask, not the host's core count) keeps memory low;
`WEB_CONCURRENCY` and `GUNICORN_THREADS` override. Values come from the environment, then `.env`,
as in mlservice/settings.py.
"""

import math
import os
from pathlib import Path

import environ

environ.Env.read_env(Path(__file__).resolve().parent.parent / ".env", overwrite=False)


def cpu_limit(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup CPU quota (v2 or v1)."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        count = os.cpu_count() or 1
    for quota_file, period_file in (
        ("cpu.max", None),
        ("cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us"),
    ):
        try:
            fields = (cgroup / quota_file).read_text().split()
            if period_file:
                fields.append((cgroup / period_file).read_text().strip())
            quota, period = fields[0], fields[1]
        except (OSError, IndexError):
            continue
        if quota not in ("max", "-1"):
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
        break
    return count


bind = f"{os.environ.get('HOST') or '127.0.0.1'}:{os.environ.get('PORT') or '8000'}"
workers = int(os.environ.get("WEB_CONCURRENCY") or cpu_limit())
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS") or 8)
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or 60)
graceful_timeout = 20
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS") or 0)
max_requests_jitter = 100
# The app logs every request itself (mlservice.request, with its request id, JSON in
# production); GUNICORN_ACCESS_LOG=- adds gunicorn's own access lines.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
