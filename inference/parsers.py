"""The V2 request body: JSON whatever its declared type (tritonclient sends none), or JSON
followed by raw tensor bytes (the protocol's binary data extension)."""

import io
import struct

import numpy as np
from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from mlservice.errors import PayloadTooLarge
from mlservice.parsers import JSONParser, unstorable_text

HEADER_LENGTH = "HTTP_INFERENCE_HEADER_CONTENT_LENGTH"
BINARY_DTYPES = {
    "BOOL": "?",
    **{f"UINT{b}": f"<u{b // 8}" for b in (8, 16, 32, 64)},
    **{f"INT{b}": f"<i{b // 8}" for b in (8, 16, 32, 64)},
    **{f"FP{b}": f"<f{b // 8}" for b in (16, 32, 64)},
}


class V2Parser(BaseParser):
    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        meta = request.META if request is not None else {}
        if _declared_length(meta) > settings.MAX_REQUEST_BYTES:
            raise PayloadTooLarge()  # as /api/ refuses it, before a byte is read
        length = meta.get(HEADER_LENGTH)
        if length is None:
            return JSONParser().parse(stream, "application/json", parser_context)
        body = stream.read() if stream is not None else b""
        try:
            size = int(length)
        except ValueError:
            size = 0
        if not 0 < size <= len(body):
            raise ParseError("Inference-Header-Content-Length does not frame a JSON header.")
        # The JSON header is read as /api/ reads JSON, with the same rule on its text.
        head = JSONParser().parse(io.BytesIO(body[:size]), "application/json", parser_context)
        _attach_binary(head, memoryview(body)[size:])
        return head


def _declared_length(meta) -> int:
    try:
        return int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0  # Django treats a malformed length as no body


def _attach_binary(head, data: memoryview) -> None:
    """Give each input that declares `binary_data_size` its values from `data`, in order."""
    offset = 0
    inputs = head.get("inputs") if isinstance(head, dict) else None
    for item in inputs if isinstance(inputs, list) else []:
        parameters = item.get("parameters") if isinstance(item, dict) else None
        if not isinstance(parameters, dict) or "binary_data_size" not in parameters:
            continue
        size = parameters.pop("binary_data_size")
        if not isinstance(size, int) or size < 0 or offset + size > len(data):
            raise ParseError(f"Input {item.get('name')!r}: binary_data_size is out of range.")
        item["data"] = _values(item.get("datatype"), data[offset : offset + size])
        offset += size


def _values(datatype, raw: memoryview) -> list:
    if datatype == "BYTES":
        values, at = [], 0
        while at + 4 <= len(raw):
            (length,) = struct.unpack_from("<I", raw, at)
            values.append(bytes(raw[at + 4 : at + 4 + length]).decode("utf-8", "replace"))
            at += 4 + length
        problem = unstorable_text(values)
        if problem is not None:
            raise ParseError(f"Binary data parse error - {problem}")
        return values
    dtype = BINARY_DTYPES.get(datatype)
    if dtype is None or len(raw) % np.dtype(dtype).itemsize:
        raise ParseError(f"Binary data does not fit datatype {datatype!r}.")
    return np.frombuffer(raw, dtype=dtype).tolist()
