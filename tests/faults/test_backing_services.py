"""Redis or PostgreSQL failing under the app: clear answers, never a 500, nothing lost."""

import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from predictions.models import Prediction, Status
from tests.support.api import SETOSA, submit
from tests.support.faults import (
    FAST_RECOVERY,
    all_terminal,
    figure,
    free_port,
    log_of,
    statuses,
    wait_until,
)

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

LEAKS = ("Traceback", 'File "/', "/work/", "site-packages", "SECRET_KEY", "test-only-")


def assert_common_error_shape(body: dict, code: str) -> None:
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_submissions_while_redis_is_down_are_kept_and_run_when_it_returns(
    alice_client, fast_iris, private_redis, processes
):
    private_redis.stop()
    answers: dict[int, int] = {}
    accepted = []
    for _ in range(100):
        response = submit(alice_client, {"model": "iris", "input": SETOSA})
        answers[response.status_code] = answers.get(response.status_code, 0) + 1
        assert response.status_code in (202, 503), response.content
        if response.status_code == 202:
            assert response.json()["status"] == "pending"
            accepted.append(response.json()["id"])
        else:
            assert_common_error_shape(response.json(), "service_unavailable")
    assert statuses(accepted) == {Status.PENDING: len(accepted)}

    private_redis.start()  # back, and empty: the jobs that could not be queued are not there
    processes.worker(**FAST_RECOVERY)
    took = wait_until(all_terminal(accepted), 120, "accepted predictions never ran", 0.5)
    assert statuses(accepted) == {Status.SUCCEEDED: len(accepted)}
    figure(
        "redis_down_100",
        f"answers {answers}; all {len(accepted)} accepted succeeded {took:.1f} s after Redis "
        "returned",
    )


def terminate_app_connections() -> int:
    """pg_terminate_backend every other session on the test database (web and worker)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


class Load:
    """Threads that submit and read predictions over HTTP until stopped."""

    def __init__(self, base: str, token: str, threads: int = 4):
        self.base, self.token = base, token
        self.results: list[tuple[float, int, str]] = []
        self.ids: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def request(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        with self.lock:
            self.results.append((time.monotonic(), status, text))
        return status, text

    def run(self) -> None:
        while not self.stop.is_set():
            body = {"model": "iris", "input": SETOSA}
            status, text = self.request("POST", "/api/v1/predictions/", body)
            if status == 202:
                prediction_id = json.loads(text)["id"]
                with self.lock:
                    self.ids.append(prediction_id)
                self.request("GET", f"/api/v1/predictions/{prediction_id}/")
            self.request("GET", "/api/v1/predictions/?page_size=5")

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(60)


def test_terminated_database_connections_under_load_recover_without_500s(
    alice, fast_iris, processes
):
    port = free_port()
    # One user far above an ordinary user's per-minute limit: the limit is not under test.
    web = processes.web(port, WEB_CONCURRENCY=2, GUNICORN_THREADS=4, PREDICTION_RATE_PER_MINUTE="0")
    processes.worker(**FAST_RECOVERY)
    base = f"http://127.0.0.1:{port}"

    def web_answers():
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    wait_until(web_answers, 60, "gunicorn did not start")
    terminated = 0
    with Load(base, str(AccessToken.for_user(alice))) as load:
        for _ in range(3):
            time.sleep(1.5)
            terminated += terminate_app_connections()
        last_kill = time.monotonic()
        time.sleep(3)
    assert web.poll() is None, log_of(web)
    assert terminated > 0

    codes: dict[int, int] = {}
    for _, status, text in load.results:
        codes[status] = codes.get(status, 0) + 1
        assert not any(leak in text for leak in LEAKS), text
        assert status in (200, 202, 503), (status, text)
        if status == 503:
            assert_common_error_shape(json.loads(text), "service_unavailable")
    failures_after = [t - last_kill for t, status, _ in load.results if status >= 500]
    recovered_in = max((t for t in failures_after if t > 0), default=0.0)
    assert recovered_in < 2, f"requests still failed {recovered_in:.1f} s after the last kill"
    after = [status for t, status, _ in load.results if t > last_kill + 2]
    assert after and set(after) <= {200, 202}, after

    wait_until(all_terminal(load.ids), 60, "predictions were left pending or running", 0.5)
    assert not Prediction.objects.filter(status=Status.RUNNING).exists()
    assert statuses(load.ids).get(Status.SUCCEEDED) == len(load.ids)
    figure(
        "pg_terminate_under_load",
        f"{terminated} sessions terminated in 3 rounds; {len(load.results)} requests, "
        f"status counts {codes}; last failure {recovered_in:.2f} s after the last kill; "
        f"{len(load.ids)} predictions all succeeded, 0 running",
    )
