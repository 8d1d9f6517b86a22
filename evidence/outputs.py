"""What a prediction was sent and what it answered for given rows: a single prediction's own,
or rows of a batch read from the chunks that hold them (each chunk read once)."""

import bisect

from predictions import columns
from predictions.models import Prediction, PredictionChunk


def outputs_of(prediction: Prediction, rows: set[int]) -> dict[int, dict]:
    """Row -> the output the prediction gave for it, for the rows of `rows` it has."""
    if not prediction.is_batch:
        return {0: prediction.output} if 0 in rows and prediction.output else {}
    return _batch_rows(prediction, rows, "output_matrix", columns.result_rows)


def inputs_of(prediction: Prediction, rows: set[int]) -> dict[int, dict]:
    """Row -> the input the prediction was sent for it, for the rows of `rows` it has."""
    if not prediction.is_batch:
        return {0: prediction.input} if 0 in rows and prediction.input else {}
    return _batch_rows(prediction, rows, "input_matrix", columns.input_rows)


def _batch_rows(prediction: Prediction, rows: set[int], column: str, convert) -> dict[int, dict]:
    """Row -> the batch's `column` for it, as `convert(matrix, version)` gives rows."""
    wanted = {row for row in rows if 0 <= row < prediction.row_count}
    chunks = list(
        PredictionChunk.objects.filter(prediction=prediction)
        .order_by("start")
        .values_list("pk", "start")
    )
    starts = [start for _, start in chunks]
    by_chunk: dict[int, list[int]] = {}
    for row in wanted:
        index = bisect.bisect_right(starts, row) - 1
        if index >= 0:
            by_chunk.setdefault(index, []).append(row)
    found = {}
    for index, chunk_rows in by_chunk.items():
        pk, start = chunks[index]
        data = PredictionChunk.objects.filter(pk=pk).values_list(column, flat=True)[0]
        if data is None:
            continue
        matrix = columns.from_bytes(data)
        for row in chunk_rows:
            at = row - start
            if at < len(matrix):
                found[row] = convert(matrix[at : at + 1], prediction.version)[0]
    return found
