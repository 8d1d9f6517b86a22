"""CSV in (a batch upload) and out (a batch's results)."""

import codecs
import csv
import io
from collections.abc import Iterable, Iterator

from predictions.models import Prediction, PredictionChunk
from registry.models import ModelVersion

TRUE, FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


class CSVError(ValueError):
    pass


def _convert(value: str, kind: str):
    """Text -> the feature's type; text that does not convert is returned as is, so schema
    validation reports it with the field name and row index."""
    text = value.strip()
    if kind == "boolean":
        lowered = text.lower()
        return True if lowered in TRUE else False if lowered in FALSE else text
    try:
        number = float(text)
    except ValueError:
        return text
    if kind == "integer" and number.is_integer():
        return int(number)
    return number


def read_rows(upload, version: ModelVersion, *, max_rows: int) -> list[dict]:
    """Rows of an uploaded CSV, keyed by the header, values converted to the schema's types."""
    text = codecs.getreader("utf-8-sig")(upload, errors="strict")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        raise CSVError("The CSV file is empty; its first row must name the features.") from None
    except UnicodeDecodeError:
        raise CSVError("The CSV file must be UTF-8 text.") from None
    header = [name.strip() for name in header]
    kinds = {f["name"]: f["type"] for f in version.input_schema}
    missing = [name for name in kinds if name not in header]
    if missing:
        raise CSVError(f"The CSV header lacks the feature(s): {', '.join(missing)}.")
    if len(set(header)) != len(header):
        raise CSVError("The CSV header names a column twice.")
    unknown = [name for name in header if name not in kinds]
    if unknown and not version.ignore_extra_features:
        raise CSVError(f"The CSV header has unknown column(s): {', '.join(unknown[:20])}.")
    columns = [(i, name, kinds[name]) for i, name in enumerate(header) if name in kinds]
    rows = []
    try:
        for line, record in enumerate(reader, start=2):
            if not record:
                continue
            if len(record) != len(header):
                raise CSVError(
                    f"Line {line} has {len(record)} values; the header has {len(header)}."
                )
            if len(rows) >= max_rows:
                raise CSVError(f"The CSV file has more than {max_rows:,} rows.")
            rows.append({name: _convert(record[i], kind) for i, name, kind in columns})
    except UnicodeDecodeError:
        raise CSVError("The CSV file must be UTF-8 text.") from None
    except csv.Error as exc:
        raise CSVError(f"The CSV file is malformed: {exc}.") from None
    return rows


def output_columns(prediction: Prediction) -> list[str]:
    labels = prediction.version.labels
    if labels:
        return ["label", *(f"probability_{label}" for label in labels)]
    return ["value"]


def _output_cells(output: dict, labels: list[str] | None) -> list:
    if labels:
        return [output["label"], *(output["probabilities"][label] for label in labels)]
    return [output["value"]]


def iter_result_rows(prediction: Prediction) -> Iterator[tuple[dict, dict]]:
    chunks = prediction.chunks.order_by("seq").values_list("pk", flat=True)
    for chunk_id in chunks:
        chunk = PredictionChunk.objects.only("inputs", "outputs").get(pk=chunk_id)
        yield from zip(chunk.inputs, chunk.outputs, strict=True)


def stream_csv(prediction: Prediction) -> Iterable[str]:
    features = prediction.version.feature_names
    labels = prediction.version.labels
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*features, *output_columns(prediction)])
    for count, (row, output) in enumerate(iter_result_rows(prediction), start=1):
        writer.writerow([*(row[name] for name in features), *_output_cells(output, labels)])
        if count % 5000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
