"""What fault tests start and may kill: a private redis-server and real worker and web
subprocesses, on free ports, so the machine's shared PostgreSQL and Redis are never stopped;
and polling and reporting helpers."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.db import connection

from predictions.models import Prediction, Status

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout: float, message: str, interval: float = 0.1) -> float:
    """Poll `condition` until it is true; returns the seconds it took, fails after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"{message} (after {timeout} s)")
        time.sleep(interval)
    return time.monotonic() - started


class PrivateRedis:
    """A throwaway redis-server without persistence, which tests may stop and start again."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.process: subprocess.Popen | None = None
        self._use_port(free_port())

    def _use_port(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        # Another test run on this machine may take the same free port between our probe and
        # the server's bind; the server that answers must be ours (its pid), else try another
        # (on a first start only: a restarted server keeps the address its clients know).
        for _ in range(1 if self.process else 5):
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.workdir)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
            wait_until(self._answers(client), 10, "the private redis-server did not start", 0.05)
            if client.info("server")["process_id"] == self.process.pid:
                return
            self.process.kill()
            self.process.wait(10)
            self._use_port(free_port())
        pytest.fail("no free port for a private redis-server")

    @staticmethod
    def _answers(client):
        def ping():
            try:
                return client.ping()
            except redis.RedisError:
                return False

        return ping

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


@pytest.fixture
def private_redis(tmp_path, settings):
    server = PrivateRedis(tmp_path)
    server.start()
    settings.REDIS_URL = server.url
    yield server
    server.stop()


class Processes:
    """Worker and web subprocesses against the test database and the private Redis."""

    def __init__(self, media_root: Path, redis_url: str, logdir: Path):
        self.media_root, self.redis_url, self.logdir = media_root, redis_url, logdir
        self.started: list[subprocess.Popen] = []

    def env(self, extra: dict) -> dict:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "mlservice.test_settings",
            "DATABASE_URL": (
                f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}"
            ),
            "REDIS_URL": self.redis_url,
            "TEST_MEDIA_ROOT": str(self.media_root),
            **{key: str(value) for key, value in extra.items()},
        }

    def _spawn(self, name: str, args: list[str], extra: dict) -> subprocess.Popen:
        log = open(self.logdir / f"{name}-{len(self.started)}.log", "w")  # noqa: SIM115
        process = subprocess.Popen(
            args, cwd=ROOT, env=self.env(extra), stdout=log, stderr=subprocess.STDOUT
        )
        process.log_path = log.name
        self.started.append(process)
        return process

    def worker(self, *, burst: bool = False, queues=("predictions",), **extra) -> subprocess.Popen:
        args = [sys.executable, "manage.py", "rqworker", *queues]
        return self._spawn("worker", args + (["--burst"] if burst else []), extra)

    def web(self, port: int, **extra) -> subprocess.Popen:
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        args = [gunicorn, "mlservice.wsgi", "-c", "python:mlservice.gunicorn_conf"]
        extra = {"HOST": "127.0.0.1", "PORT": port, "GUNICORN_ACCESS_LOG": "", **extra}
        return self._spawn("web", args, extra)

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(10)


def log_of(process: subprocess.Popen) -> str:
    return Path(process.log_path).read_text()[-4000:]


@pytest.fixture
def processes(private_redis, media_root, tmp_path):
    started = Processes(media_root, private_redis.url, tmp_path)
    yield started
    started.stop_all()


def statuses(ids) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in Prediction.objects.filter(pk__in=ids).values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def all_terminal(ids):
    return lambda: not Prediction.objects.filter(
        pk__in=ids, status__in=[Status.PENDING, Status.RUNNING]
    ).exists()


# Workers in these tests repair quickly: a reconcile pass every second, and a lease of the
# version's timeout (5 s for fast_iris) plus 1 s.
FAST_RECOVERY = {
    "RECONCILE_INTERVAL_SECONDS": 1,
    "RECONCILE_PENDING_GRACE_SECONDS": 1,
    "PREDICTION_LEASE_GRACE_SECONDS": 1,
}


def figure(name: str, value) -> None:
    """Figures for docs/RELIABILITY.md; shown with `pytest -rP`."""
    print(f"FIGURE {name}: {value}")
