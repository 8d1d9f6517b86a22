"""Time windows in query strings (`?window=24h`): a number and a unit, m, h or d."""

import re
from datetime import timedelta

from mlservice.errors import ServiceError

UNITS = {"m": "minutes", "h": "hours", "d": "days"}
MAX_WINDOW = timedelta(days=90)
_WINDOW = re.compile(r"([1-9][0-9]{0,5})([mhd])")


def parse_window(text: str | None, *, default: str = "24h") -> tuple[str, timedelta]:
    """(the window as written, its length); a clear 400 for anything else or over 90 days."""
    text = (text or default).strip()
    match = _WINDOW.fullmatch(text)
    length = timedelta(**{UNITS[match[2]]: int(match[1])}) if match else None
    if length is None or length > MAX_WINDOW:
        message = "window must be a whole number of minutes, hours or days up to 90d, e.g. 24h."
        raise ServiceError(message, code="invalid", fields={"window": [message]})
    return text, length
