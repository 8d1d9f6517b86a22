"""One HTTP POST of a delivery: to the address that was checked, with short timeouts, no
redirects followed, no retries of its own, and only the start of the answer read."""

import time
from dataclasses import dataclass

import urllib3
from django.conf import settings
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from webhooks import addresses

USER_AGENT = "mlservice-webhooks/1"


@dataclass(frozen=True)
class Outcome:
    duration_ms: int
    response_status: int | None = None
    response_excerpt: str = ""
    error: str = ""
    # The URL may not be sent to at all (see addresses): trying again will not help.
    refused: bool = False

    @property
    def succeeded(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300


def _pool(target: addresses.Target) -> urllib3.HTTPConnectionPool:
    options = {
        "host": target.address,
        "port": target.port,
        "timeout": urllib3.Timeout(
            connect=settings.WEBHOOKS_CONNECT_TIMEOUT_SECONDS,
            read=settings.WEBHOOKS_READ_TIMEOUT_SECONDS,
        ),
        "retries": False,
        "maxsize": 1,
    }
    if target.scheme == "https":
        # Connected by address, verified (and SNI sent) by name.
        return urllib3.HTTPSConnectionPool(
            **options, server_hostname=target.host, assert_hostname=target.host
        )
    return urllib3.HTTPConnectionPool(**options)


def _excerpt(response) -> str:
    limit = settings.WEBHOOKS_RESPONSE_EXCERPT_CHARS
    # At most 4 bytes a character in UTF-8: enough bytes for `limit` characters, no more.
    return response.read(limit * 4).decode("utf-8", errors="replace")[:limit]


def _failure(exc: HTTPError, target: addresses.Target) -> str:
    where = target.host_header
    if isinstance(exc, ReadTimeoutError):
        return f"No answer from {where} within {settings.WEBHOOKS_READ_TIMEOUT_SECONDS} s."
    if isinstance(exc, SSLError):
        return f"TLS with {where} failed: {exc.__cause__ or exc}"
    if isinstance(exc, NewConnectionError):
        cause = exc.__cause__ or exc
        return f"Could not connect to {where}: {getattr(cause, 'strerror', None) or cause}."
    if isinstance(exc, ConnectTimeoutError):  # after NewConnectionError, its subclass
        return f"No connection to {where} within {settings.WEBHOOKS_CONNECT_TIMEOUT_SECONDS} s."
    if isinstance(exc, ProtocolError):
        return f"The connection to {where} broke: {exc.args[0] if exc.args else exc}."
    return f"The request to {where} failed: {exc}"


def post(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    """POST `body` to `url`; the outcome says what came back, or why nothing did."""
    started = time.monotonic()

    def took() -> int:
        return round((time.monotonic() - started) * 1000)

    try:
        target = addresses.resolve(url)
    except addresses.URLRefused as exc:
        return Outcome(duration_ms=took(), error=str(exc), refused=True)
    headers = {
        **headers,
        "Host": target.host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    pool = _pool(target)
    try:
        response = pool.urlopen(
            "POST", target.path, body=body, headers=headers, redirect=False,
            preload_content=False, assert_same_host=False,
        )  # fmt: skip
        try:
            excerpt = _excerpt(response)
        except HTTPError:
            excerpt = ""  # the status is the answer; a body that stalls or breaks is not
        finally:
            response.close()
    except HTTPError as exc:
        return Outcome(duration_ms=took(), error=_failure(exc, target))
    finally:
        pool.close()
    status = response.status
    error = ""
    if not 200 <= status < 300:
        error = f"The endpoint answered {status}" + (
            " (redirects are not followed)." if 300 <= status < 400 else "."
        )
    return Outcome(
        duration_ms=took(), response_status=status, response_excerpt=excerpt, error=error
    )
