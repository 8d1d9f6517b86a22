"""Login throttles hold across server processes (their counters live in Redis), cannot be
reset with a spoofed X-Forwarded-For, and an attacker's failures do not lock the owner out from
another address. Two separate gunicorn servers share one private Redis."""

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.support.factories import DEFAULT_PASSWORD, UserFactory
from tests.support.faults import free_port, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def login(base: str, username: str, forwarded_for: str | None = None):
    body = json.dumps({"username": username, "password": "wrong"}).encode()
    request = urllib.request.Request(f"{base}/api/v1/auth/token/", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    if forwarded_for:
        request.add_header("X-Forwarded-For", forwarded_for)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


@pytest.fixture
def two_servers(processes):  # noqa: F811
    bases = []
    for _ in range(2):
        port = free_port()
        processes.web(port, WEB_CONCURRENCY=1, GUNICORN_THREADS=2)
        bases.append(f"http://127.0.0.1:{port}")
    for base in bases:
        wait_until(lambda base=base: answers(base), 60, "gunicorn did not start")
    return bases


def answers(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def login_from(base: str, source: str, username: str, password: str) -> int:
    """POST a login from a chosen loopback address (127.0.0.0/8 all reach this machine)."""
    url = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(
        url.hostname, url.port, timeout=10, source_address=(source, 0)
    )
    try:
        body = json.dumps({"username": username, "password": password})
        connection.request(
            "POST", "/api/v1/auth/token/", body, {"Content-Type": "application/json"}
        )
        return connection.getresponse().status
    finally:
        connection.close()


def test_an_attacker_failing_on_two_servers_does_not_lock_the_owner_out(two_servers):
    a, b = two_servers
    owner = UserFactory(username="victim")
    codes = [login_from(server, "127.0.0.2", "victim", "wrong") for server in (a, b) * 15]
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}
    assert login_from(a, "127.0.0.2", "victim", DEFAULT_PASSWORD) == 429
    for server in (a, b):
        assert login_from(server, "127.0.0.3", owner.username, DEFAULT_PASSWORD) == 200


def test_the_address_and_username_throttle_counts_across_server_processes(two_servers):
    a, b = two_servers
    codes = [login(server, "victim")[0] for server in (a, b) * 5]  # 10/min per username
    assert codes == [401] * 10
    status, headers, body = login(a, "Victim")  # case does not make a new account name
    assert status == 429
    assert int(headers["Retry-After"]) > 0
    assert body["error"]["code"] == "throttled"
    assert body["error"]["retry_after"] == int(headers["Retry-After"])
    assert login(b, "victim")[0] == 429


def test_the_ip_throttle_counts_across_processes_and_ignores_forwarded_for(two_servers):
    a, b = two_servers
    codes = [
        login(server, f"guess{i}", forwarded_for=f"10.0.{i}.1")[0]
        for i, server in enumerate((a, b) * 15)  # 30/min per client address
    ]
    assert codes == [401] * 30
    for server in (a, b):
        status, headers, _ = login(server, "someone-new", forwarded_for="203.0.113.9")
        assert status == 429 and int(headers["Retry-After"]) > 0
