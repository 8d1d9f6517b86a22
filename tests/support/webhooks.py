"""A real HTTP receiver on a loopback port, an endpoint registered through the API, and helpers
to run webhook jobs."""

import contextlib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connections
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from mlservice.redis import redis_connection
from predictions.worker import PredictionWorker
from tests.support.api import client_for
from tests.support.factories import UserFactory
from webhooks import queue as webhook_queue
from webhooks import services


@dataclass
class Received:
    headers: dict
    body: bytes
    answered: int | None  # None: no answer was given (the receiver hung)
    verified: dict | None  # the payload Webhook.verify returned, or None if it refused


@dataclass
class Receiver:
    """Answers each POST with the next status of `script` (the last one repeats); "hang" holds
    the request without answering for `hang_seconds`. Verifies every signature with the
    library's own verifier, with the secret the test gives it."""

    script: list = field(default_factory=lambda: [200])
    secret: str | None = None
    hang_seconds: float = 5.0
    body: bytes = b'{"ok": true}'
    extra_headers: dict = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    # Run (in the server's thread, with its own database connection) before answering.
    during: Callable[[], None] | None = None
    url: str = ""

    def verify(self, headers: dict, body: bytes):
        if not self.secret:
            return None
        try:
            return Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            return None

    def answer_for(self, index: int):
        return self.script[min(index, len(self.script) - 1)]

    @property
    def successes(self) -> list[Received]:
        return [r for r in self.received if r.answered is not None and 200 <= r.answered < 300]


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = dict(self.headers.items())
            answer = receiver.answer_for(len(receiver.received))
            record = Received(headers, body, None, receiver.verify(headers, body))
            receiver.received.append(record)
            receiver.arrived.set()
            if receiver.during:
                try:
                    receiver.during()
                finally:
                    connections.close_all()
            if answer == "hang":
                time.sleep(receiver.hang_seconds)
                return
            record.answered = answer
            self.send_response(answer)
            for name, value in receiver.extra_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(receiver.body)))
            self.end_headers()
            self.wfile.write(receiver.body)

        def log_message(self, *args):
            pass

    return Handler


@contextlib.contextmanager
def serving(tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"):
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    if tls:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls else "http"
    state.url = f"{scheme}://{host}:{server.server_address[1]}/hooks/mlservice?source=test"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver():
    with serving() as state:
        yield state


@pytest.fixture
def owner(db):
    return UserFactory(username="olivia")


@pytest.fixture
def owner_client(owner):
    return client_for(owner)


def register(client, url: str, **fields):
    return client.post("/api/v1/webhooks/", {"url": url, **fields}, format="json")


@pytest.fixture
def endpoint(owner_client, receiver):
    """An endpoint registered through the API; the receiver knows its secret."""
    created = register(owner_client, receiver.url).json()
    receiver.secret = created["secret"]
    return created


def run_jobs() -> None:
    """Run every queued job on the default queue with the project's worker class, then stop."""
    PredictionWorker([webhook_queue.get_queue()], connection=redis_connection()).work(burst=True)


def deliver_until_settled(rounds: int = 10) -> None:
    """Run queued attempts, then sweep for retries that are due, until nothing is left."""
    for _ in range(rounds):
        run_jobs()
        if not services.deliveries_sweep():
            return
    pytest.fail(f"deliveries still due after {rounds} rounds")


def deliveries(client, endpoint_id: str, **params) -> list[dict]:
    response = client.get(f"/api/v1/webhooks/{endpoint_id}/deliveries/", params)
    assert response.status_code == 200, response.content
    return response.json()["results"]
