"""CSV in (a batch upload) and out (a batch's results)."""

import csv
import io
import itertools
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

import numpy as np
import orjson
from django.conf import settings

from mlservice import rawsql
from predictions import columns
from predictions.models import Prediction, PredictionChunk
from registry import features, forecasts
from registry.models import ModelVersion
from registry.schemas import row_errors, within_schema


class CSVError(ValueError):
    pass


# A line may be this long per feature of its version, when that is more than the setting: a
# header of 100-character names, or a row of numbers written in full.
LINE_BYTES_PER_FEATURE = 128
_SCAN_CHUNK = 1024 * 1024
# Past this many values a file is not read row by row, which costs a dict per row and a Python
# object per value.
ROW_BY_ROW_MAX_VALUES = 1_000_000
CHUNK_VALUES = 200_000  # values per chunk of a large file read column by column
_LF, _CR, _QUOTE = 10, 13, 34


def max_line_bytes(version: ModelVersion) -> int:
    """The longest line (in bytes, without its line end) a CSV for `version` may have."""
    return max(
        settings.PREDICTION_CSV_MAX_LINE_BYTES, LINE_BYTES_PER_FEATURE * len(version.input_schema)
    )


class Lines(NamedTuple):
    rows: int  # non-blank lines after the header
    quoted: bool  # whether a double quote appears anywhere


def scan_lines(stream, *, max_line_bytes: int, max_rows: int) -> Lines:
    """Check the file's lines in one pass that costs the same whatever their shape (numpy finds
    the line ends): refuse it at the first line longer than `max_line_bytes`, or with more than
    `max_rows` rows or blank lines after the header. Returns how many rows (non-blank lines)
    follow the header and whether the file quotes anything, and leaves the stream at its
    start.

    Neither reader may meet such a file: numpy allocates for its rows before reading them, and
    Python skips blank lines one at a time."""
    stream.seek(0)
    lines = blank = offset = line_start = quotes = 0
    previous = _LF  # the byte before the chunk
    try:
        while chunk := stream.read(_SCAN_CHUNK):
            data = np.frombuffer(chunk, dtype=np.uint8)
            ends = np.flatnonzero(data == _LF)
            if len(ends):
                starts = np.concatenate(([line_start - offset], ends[:-1] + 1))
                before = np.where(ends > 0, data[np.maximum(ends - 1, 0)], previous)
                lengths = ends - starts - (before == _CR)
                _refuse_long_line(lengths, lines, max_line_bytes)
                blank += int(np.count_nonzero(lengths == 0))
                lines += len(ends)
                line_start = offset + int(ends[-1]) + 1
            quotes += int(np.count_nonzero(data == _QUOTE))
            offset += len(chunk)
            previous = chunk[-1]
            # The line still open may end with a CR, which is not part of its length.
            _refuse_long_line(np.array([offset - line_start - 1]), lines, max_line_bytes)
            _refuse_many_lines(lines - blank - 1, blank, max_rows)
    finally:
        stream.seek(0)
    if offset > line_start:  # a last line without a line end
        last = offset - line_start - (previous == _CR)
        _refuse_long_line(np.array([last]), lines, max_line_bytes)
        lines += 1
        _refuse_many_lines(lines - blank - 1, blank, max_rows)
    return Lines(max(lines - blank - 1, 0), quotes > 0)


def _refuse_long_line(lengths: np.ndarray, lines_before: int, limit: int) -> None:
    too_long = np.flatnonzero(lengths > limit)
    if len(too_long):
        line = lines_before + int(too_long[0]) + 1
        raise CSVError(f"Line {line} is longer than {limit:,} bytes.")


def _refuse_many_lines(rows: int, blank: int, max_rows: int) -> None:
    if rows > max_rows:
        raise CSVError(f"The CSV file has more than {max_rows:,} rows.")
    if blank > max_rows:
        raise CSVError(f"The CSV file has more than {max_rows:,} blank lines.")


def read_matrix(upload, version: ModelVersion, *, max_rows: int) -> np.ndarray | None:
    """The feature matrix of an uploaded CSV (schema order), parsed and checked by numpy, for
    the common file: UTF-8, its header exactly the version's numeric features (in any order),
    every line as many plain finite numbers as the header has names, each within its feature's
    bounds. None for anything else (quotes, a value that is not a number, a line with more or
    fewer values, a forecast's lists of values, ...): `read_rows` then reads the file row by
    row and names what is wrong, at a far higher cost per row; a file too large for that is
    read column by column here instead (`_read_large`). The file is read line by line from
    where Django put it, so a large upload is not copied into memory. Its lines are checked
    first (`scan_lines`)."""
    if version.is_forecast:
        return None  # a forecast request's cells hold lists of values
    stream = getattr(upload, "file", upload)  # the real file object: numpy iterates it in C
    schema = version.input_schema
    rows, quoted = scan_lines(stream, max_line_bytes=max_line_bytes(version), max_rows=max_rows)
    matrix, failure = _numbers(stream, version, rows, quoted=False)
    if matrix is not None and within_schema(matrix, schema):
        return matrix
    # Row by row costs a Python object per value: a file too large for that is read by numpy
    # with quotes, else column by column, and refused at a problem rather than with every
    # problem named.
    if rows * len(schema) <= ROW_BY_ROW_MAX_VALUES:
        return None
    if matrix is None and quoted:
        matrix, failure = _numbers(stream, version, rows, quoted=True)
    if matrix is not None:
        if within_schema(matrix, schema):
            return matrix
        problem = _value_problem(matrix, version)
    else:
        problem = _failed_value(stream, version, failure)
    if problem is not None:
        raise problem
    return _read_large(stream, version, rows)


def _numbers(
    stream, version: ModelVersion, rows: int, *, quoted: bool
) -> tuple[np.ndarray | None, str | None]:
    """numpy's matrix of the file (schema order) when every value is a number; else None, and
    numpy's message when it stopped at a value."""
    try:
        header, matrix = _load_numbers(stream, version, rows, quoted)
    except ValueError as exc:  # not UTF-8, not a number, a line with too few or many values
        return None, str(exc)
    finally:
        stream.seek(0)
    if matrix is None:
        return None, None
    order = {name: i for i, name in enumerate(header)}
    return matrix[:, [order[name] for name in version.feature_names]], None


def _value_problem(matrix: np.ndarray, version: ModelVersion) -> CSVError | None:
    """The first value of `matrix` outside its feature's rules, as a CSVError naming its row
    and feature, looked for a chunk of rows at a time; None when a boolean feature (which a
    matrix cannot tell from a number) leaves it to the reader that sees the text."""
    schema = version.input_schema
    if any(features.kind_of(feature) == features.BOOLEAN for feature in schema):
        return None
    names, step = version.feature_names, max(1, CHUNK_VALUES // len(schema))
    for start in range(0, len(matrix), step):
        block = matrix[start : start + step]
        if within_schema(block, schema):
            continue
        for offset, values in enumerate(block.tolist()):
            for name, message in row_errors(dict(zip(names, values, strict=True)), schema).items():
                return CSVError(f"Row {start + offset + 1} of the CSV file, {name}: {message}")
    return None


def _load_numbers(
    stream, version: ModelVersion, rows: int, quoted: bool
) -> tuple[list[str], np.ndarray | None]:
    """The header and numpy's matrix of the rows (file order), None when the header is not
    exactly the version's features or the first row has another width."""
    header = _fields(stream.readline().decode("utf-8-sig"), quoted)
    if len(set(header)) != len(header) or sorted(header) != sorted(version.feature_names):
        return header, None
    # numpy sizes the matrix from the first row: a row of another width is left to the other
    # readers, which name its line, and numpy never allocates for a width the header lacks.
    body = stream.tell()
    if len(_fields(stream.readline().decode(), quoted)) != len(header):
        return header, None
    stream.seek(body)
    if rows == 0:
        return header, np.empty((0, len(header)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "input contained no data": 0 rows, said later
        matrix = np.loadtxt(
            stream,
            delimiter=",",
            quotechar='"' if quoted else None,
            comments=None,
            dtype=np.float64,
            ndmin=2,
            max_rows=rows,
        )
    return header, matrix if matrix.shape[1] == len(header) else None


def _fields(line: str, quoted: bool) -> list[str]:
    fields = next(csv.reader([line]), []) if quoted else line.split(",")
    return [field.strip() for field in fields]


def _read_large(stream, version: ModelVersion, rows: int) -> np.ndarray:
    """The matrix of a large file numpy's reader declined (quoted values, booleans, a problem):
    parsed by `csv` a chunk of rows at a time, each column converted by `features`; a problem
    is a CSVError naming its line and feature."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline="")
    try:
        reader = csv.reader(text)
        header, _ = _header(reader, version)
        index = [header.index(name) for name in version.feature_names]
        matrix = np.empty((rows, len(index)))
        filled = 0
        for lines, records in _chunks(reader, len(header)):
            matrix[filled : filled + len(records)] = _chunk_matrix(records, lines, index, version)
            filled += len(records)
        return matrix[:filled]
    except UnicodeDecodeError:
        raise CSVError("The CSV file must be UTF-8 text.") from None
    except csv.Error as exc:
        raise CSVError(f"The CSV file is malformed: {exc}.") from None
    finally:
        text.detach()
        stream.seek(0)


def _chunks(reader, width: int) -> Iterator[tuple[list[int], list[list[str]]]]:
    """(line numbers, records) of the non-blank records, a chunk of about CHUNK_VALUES values
    at a time; a record of another width than the header's is a CSVError naming its line."""
    size = max(1, CHUNK_VALUES // width)
    lines, records = [], []
    for record in reader:
        if not record:
            continue
        if len(record) != width:
            raise _width_error(reader.line_num, len(record), width)
        lines.append(reader.line_num)
        records.append(record)
        if len(records) == size:
            yield lines, records
            lines, records = [], []
    if records:
        yield lines, records


def _width_error(line: int, values: int, width: int) -> CSVError:
    return CSVError(f"Line {line} has {values:,} values; the header has {width:,}.")


def _chunk_matrix(
    records: list[list[str]], lines: list[int], index: list[int], version: ModelVersion
) -> np.ndarray:
    columns = list(zip(*records, strict=True))
    block = np.empty((len(records), len(index)))
    for position, (i, feature) in enumerate(zip(index, version.input_schema, strict=True)):
        column = features.column_from_text(columns[i], feature)
        if column is None:
            raise _first_problem(records, lines, index, version)
        block[:, position] = column
    return block


def _first_problem(
    records: list[list[str]], lines: list[int], index: list[int], version: ModelVersion
) -> CSVError:
    for record, line in zip(records, lines, strict=True):
        for name, message in _record_errors(record, index, version).items():
            return CSVError(f"Line {line}, {name}: {message}")
    raise AssertionError("a column was refused but no value has a problem")


def _record_errors(record: list[str], index: list[int], version: ModelVersion) -> dict:
    """What is wrong with a record's values (`row_errors`), read as `features` reads text."""
    schema = version.input_schema
    row = {f["name"]: features.from_text(record[i], f) for i, f in zip(index, schema, strict=True)}
    return row_errors(row, schema)


# numpy's words when a value is not a number: the field (as Latin-1, its repr cut at 100
# characters), its row (from 0 after the header, blank lines not counted) and column (from 1).
_NOT_A_NUMBER = re.compile(r"could not convert string (.+) to float64 at row (\d+), column (\d+)\.")
_SHOWN_CHARACTERS = 100


def _failed_value(stream, version: ModelVersion, failure: str | None) -> CSVError | None:
    """The problem of the line numpy stopped at, named as `_read_large` would name it, so that
    a large file is not read a second time to find it. That line is read alone and its value
    checked by `features`; None (the file is then read again) when numpy named no value, or
    the line is not certainly numpy's row or does not hold a problem at that value."""
    found = _NOT_A_NUMBER.fullmatch(failure or "")
    if found is None:
        return None
    shown, row, column = found.group(1), int(found.group(2)), int(found.group(3))
    located = _row_line(stream, row)
    if located is None:
        return None
    header, line, record = located
    if len(record) != len(header) or not 0 < column <= len(record):
        return None
    if repr(record[column - 1].encode().decode("latin-1"))[:_SHOWN_CHARACTERS] != shown:
        return None
    index = [header.index(name) for name in version.feature_names]
    errors = _record_errors(record, index, version)
    if header[column - 1] not in errors:
        return None
    name, message = next(iter(errors.items()))
    return CSVError(f"Line {line}, {name}: {message}")


def _row_line(stream, row: int) -> tuple[list[str], int, list[str]] | None:
    """The header, and the line number and fields of the `row`-th non-blank line after it (from
    0, as numpy counts rows). None when a line up to it may not be one whole record (an odd
    number of quotes, a CR not before its LF), as the csv module and numpy would then count
    lines and rows apart, or when it is not UTF-8."""
    stream.seek(0)
    try:
        header, seen = stream.readline(), -1
        for number, raw in enumerate(itertools.chain([header], stream), start=1):
            if raw.count(b'"') % 2 or raw.count(b"\r") > raw.endswith(b"\r\n"):
                return None
            if number > 1 and raw.strip(b"\r\n"):
                seen += 1
                if seen == row:
                    record = next(csv.reader([raw.decode()]), [])
                    return _fields(header.decode("utf-8-sig"), True), number, record
        return None
    except UnicodeDecodeError:
        return None
    finally:
        stream.seek(0)


def read_rows(upload, version: ModelVersion, *, max_rows: int) -> list[dict]:
    """Rows of an uploaded CSV, keyed by the header, values converted to the schema's types."""
    stream = getattr(upload, "file", upload)
    scan_lines(stream, max_line_bytes=max_line_bytes(version), max_rows=max_rows)
    # io's reader finds line ends in C; codecs' StreamReader rescans a long line per chunk.
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline="")
    try:
        return _records(csv.reader(text), version, max_rows)
    except UnicodeDecodeError:
        raise CSVError("The CSV file must be UTF-8 text.") from None
    except csv.Error as exc:
        raise CSVError(f"The CSV file is malformed: {exc}.") from None
    finally:
        text.detach()  # leave the upload open for the caller


def _records(reader, version: ModelVersion, max_rows: int) -> list[dict]:
    header, convert = _header(reader, version)
    rows = []
    for record in reader:
        if not record:
            continue
        if len(record) != len(header):
            raise _width_error(reader.line_num, len(record), len(header))
        if len(rows) >= max_rows:
            raise CSVError(f"The CSV file has more than {max_rows:,} rows.")
        rows.append(convert(record))
    return rows


def _header(reader, version: ModelVersion) -> tuple[list[str], Callable[[list[str]], dict]]:
    """The header (checked) and what turns a record into an input row (`_converter`)."""
    try:
        header = next(reader)
    except StopIteration:
        raise CSVError("The CSV file is empty; its first row must name the features.") from None
    header = [name.strip() for name in header]
    return header, _converter(header, version)


def _converter(header: list[str], version: ModelVersion) -> Callable[[list[str]], dict]:
    """Checks the header; returns what turns a CSV record into an input row. A forecast batch's
    line is one request: `horizon`, then `history` and each regressor as values separated by
    spaces (`registry.forecasts`)."""
    if version.is_forecast:
        spec = version.input_schema
        required, optional = forecasts.csv_columns(spec)
        declared, what = dict.fromkeys(required + optional), "column(s)"
    else:
        declared = {feature["name"]: feature for feature in version.input_schema}
        required, what = list(declared), "feature(s)"
    missing = [name for name in required if name not in header]
    if missing:
        raise CSVError(f"The CSV header lacks the {what}: {', '.join(missing)}.")
    if len(set(header)) != len(header):
        raise CSVError("The CSV header names a column twice.")
    unknown = [name for name in header if name not in declared]
    if unknown and not version.ignore_extra_features:
        raise CSVError(f"The CSV header has unknown column(s): {', '.join(unknown[:20])}.")
    columns = [(i, name) for i, name in enumerate(header) if name in declared]
    if version.is_forecast:
        return lambda record: forecasts.request_from_csv(
            {name: record[i] for i, name in columns}, spec
        )
    return lambda record: {
        name: features.from_text(record[i], declared[name]) for i, name in columns
    }


def _chunk_matrices(prediction: Prediction) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(inputs, outputs) of each chunk in order, one chunk in memory at a time."""
    chunk_ids = prediction.chunks.order_by("seq").values_list("pk", flat=True)
    sql = f"SELECT input_matrix, output_matrix FROM {PredictionChunk._meta.db_table} WHERE id = %s"
    for chunk_id in list(chunk_ids):
        inputs, outputs = rawsql.fetchone(sql, [chunk_id], binary=True)
        yield columns.from_bytes(inputs), columns.from_bytes(outputs)


def stream_csv(prediction: Prediction) -> Iterable[str]:
    """The batch's inputs and outputs as CSV, one chunk of rows per piece."""
    version = prediction.version
    yield columns.csv_header(version)
    start = 0
    for inputs, outputs in _chunk_matrices(prediction):
        yield columns.csv_lines(inputs, outputs, version, start=start)
        start += len(inputs)


def stream_json_outputs(prediction: Prediction) -> Iterable[str]:
    """The batch's outputs as the items of a JSON array (without the brackets), a chunk per
    piece, each piece after the first starting with its comma."""
    first = True
    for _, outputs in _chunk_matrices(prediction):
        body = orjson.dumps(columns.result_rows(outputs, prediction.version))[1:-1].decode()
        if body:
            yield ("" if first else ",") + body
            first = False
