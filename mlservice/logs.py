"""Request ids and log formatting.

Every request gets one id: the caller's `X-Request-ID` when it looks sane, otherwise a new one.
It is echoed in the response header, stamped on every log record emitted while the request (or
the RQ job that runs its prediction) is being handled, and carried to that job in its `meta`, so
`grep <id>` finds the web and the worker lines of one prediction.
"""

import contextlib
import json
import logging
import re
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

HEADER = "X-Request-ID"
_SANE = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

access_logger = logging.getLogger("mlservice.request")


def current_request_id() -> str | None:
    return request_id_var.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def sane_request_id(value: str | None) -> str | None:
    """The caller's id if it is short and made of safe characters (it ends up in log lines and
    headers), else None."""
    if value and _SANE.fullmatch(value):
        return value
    return None


@contextlib.contextmanager
def request_id_context(request_id: str | None):
    token = request_id_var.set(request_id)
    try:
        yield request_id
    finally:
        request_id_var.reset(token)


class RequestIdMiddleware:
    """Outermost middleware: give the request an id, log one line when it is answered."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = sane_request_id(request.headers.get(HEADER)) or new_request_id()
        request.request_id = request_id
        started = time.monotonic()
        with request_id_context(request_id):
            response = self.get_response(request)
            response[HEADER] = request_id
            access_logger.info(
                "%s %s %s %.1fms",
                request.method,
                request.path,
                response.status_code,
                (time.monotonic() - started) * 1000,
            )
        return response


class RequestIdFilter(logging.Filter):
    """Adds `request_id` ("-" outside a request or job) to every record a handler emits."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get() or "-",
            "process": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)
