#!/usr/bin/env python
"""Time what a CSV upload costs to read (or refuse) in the web process, for hostile shapes:
one long line, many blank lines, rows of many values, and files at the size limit.

    DATABASE_URL=... .venv/bin/python bench/probe_csv.py [long|limit]

`long` reads a valid header and one line of 1, 2, 4 and 8 MB; `limit` builds the worst files
we could think of at PREDICTION_CSV_MAX_BYTES for the iris model and reads each; `wide` does the
same for a model of 100 features. Reading is what the view and the service do:
`csvio.read_matrix`, then, when it declines, `csvio.read_rows` and the rows' validation.
Figures are in docs/RELIABILITY.md.
"""

import io
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlservice.test_settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from mlservice.errors import ServiceError  # noqa: E402
from predictions import csvio  # noqa: E402
from registry import demo  # noqa: E402
from registry.models import MLModel, ModelVersion  # noqa: E402
from registry.validation import validate_batch  # noqa: E402

IRIS = demo.DEMO_MODELS["iris"]
HEADER = ",".join(IRIS.feature_names).encode() + b"\n"
VERSION = ModelVersion(
    model=MLModel(name="iris", task="classification"),
    input_schema=IRIS.input_schema,
    labels=IRIS.labels,
)


def read(data: bytes, version: ModelVersion = VERSION) -> tuple[float, str, float]:
    """CPU seconds, outcome and the MB the process grew by to read `data` as the view does."""
    upload = io.BufferedReader(io.BytesIO(data))
    limit = settings.PREDICTION_CSV_MAX_ROWS
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.process_time()
    try:
        matrix = csvio.read_matrix(upload, version, max_rows=limit)
        if matrix is not None:
            outcome = f"matrix of {len(matrix):,} rows"
        else:
            rows = csvio.read_rows(upload, version, max_rows=limit)
            outcome = f"{len(validate_batch(rows, version)):,} rows, row by row"
    except (csvio.CSVError, ServiceError) as exc:  # the 400 the view answers
        outcome = f"400: {str(exc)[:70]}"
    except MemoryError as exc:  # what the view would answer with a 500
        outcome = f"500: {type(exc).__name__} {str(exc)[:60]}"
    seconds = time.process_time() - start
    return seconds, outcome, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024


def long_lines() -> None:
    for megabytes in (1, 2, 4, 8):
        report(f"one line of {megabytes} MB of text", HEADER + b"x" * megabytes * 2**20 + b"\n")
    for megabytes in (1, 2, 4, 8):
        report(f"one line of {megabytes} MB of 1,1,...", HEADER + b"1," * (megabytes * 2**19))


def at_the_limit() -> None:
    size = settings.PREDICTION_CSV_MAX_BYTES
    row = b"5.1,3.5,1.4,0.2\n"
    quoted = b'"5.1","3.5","1.4","0.2"\n'
    cases = {
        "one line of the whole size": HEADER + b"1," * ((size - len(HEADER)) // 2),
        "blank lines": HEADER + b"\n" * (size - len(HEADER)),
        "plain rows up to the row limit": HEADER + row * settings.PREDICTION_CSV_MAX_ROWS,
        "plain rows, the whole size": HEADER + row * ((size - len(HEADER)) // len(row)),
        "quoted rows up to the row limit": HEADER + quoted * settings.PREDICTION_CSV_MAX_ROWS,
        "lines of 2,000 values": HEADER + (b"1," * 1999 + b"1\n") * (size // 4000),
        "a bad value on the last row": HEADER
        + row * (settings.PREDICTION_CSV_MAX_ROWS - 1)
        + b"5.1,3.5,1.4,x\n",
    }
    for name, data in cases.items():
        report(name, data)


def wide() -> None:
    schema = [{"name": f"f{i}", "type": "number", "maximum": 10} for i in range(100)]
    version = ModelVersion(model=MLModel(name="wide", task="regression"), input_schema=schema)
    header = ",".join(feature["name"] for feature in schema).encode() + b"\n"
    size = settings.PREDICTION_CSV_MAX_BYTES
    for name, value in (("plain", b"1.5"), ("quoted", b'"1.5"')):
        line = b",".join([value] * 100) + b"\n"
        body = line * (size // len(line) - 1)
        for last, bad in (
            ("", line),
            (", 11 on the last line", b"11"),
            (", x on the last line", b"x"),
        ):
            data = header + body + (bad if bad is line else line.replace(b"1.5", bad, 1))
            report(f"100 features, {name}{last}", data, version)


def report(name: str, data: bytes, version: ModelVersion = VERSION) -> None:
    """Read in a child process, so that each case's memory growth is its own."""
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        return
    seconds, outcome, grew = read(data, version)
    size = len(data) / 1e6
    print(f"{name:32} {size:6.1f} MB {seconds:6.2f} s CPU  +{grew:4.0f} MB RSS  {outcome}")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    modes = {"long": long_lines, "limit": at_the_limit, "wide": wide}
    modes[sys.argv[1] if len(sys.argv) > 1 else "long"]()
