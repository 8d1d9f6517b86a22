"""Request parsers, and the rule for text the API accepts in JSON."""

import codecs
import re
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json

# Valid JSON, but not text the service can keep: PostgreSQL stores no NUL (in text or jsonb),
# and an unpaired surrogate cannot be encoded to UTF-8 at all (for PostgreSQL, Redis or the
# error response that would echo it).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# What such a character looks like in JSON text: escaped (the usual way), or raw after an odd
# charset such as unicode_escape. A body without either is not walked.
_SUSPECT = re.compile(r"\\u(?:0000|[dD][89a-fA-F])|[\x00\ud800-\udfff]")


def unstorable_text(data: Any) -> str | None:
    """Why `data` (parsed JSON) cannot be stored, if a string in it (key or value) holds a NUL
    or an unpaired surrogate; None when it is fine."""
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found = _UNSTORABLE.search(item)
            if found is not None:
                if found.group() == "\x00":
                    return "text may not contain a NUL character (\\u0000)."
                return "text may not contain an unpaired surrogate (\\ud800 to \\udfff)."
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return None


def loads(text: str) -> Any:
    """JSON text as the API reads it: DRF's strict JSON (no NaN or Infinity), and no string
    that `unstorable_text` refuses. Raises ValueError."""
    data = json.loads(text, parse_constant=json.strict_constant)
    if _SUSPECT.search(text):
        problem = unstorable_text(data)
        if problem is not None:
            raise ValueError(problem)
    return data


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with `loads`' rule on text; a body nested deeper than the decoder can
    follow is a 400, not a RecursionError (500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            return loads(codecs.getreader(encoding)(stream).read())
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
