"""The reference for the drain benchmark: a bare RQ non-forking worker, one prediction per job.

The job loads the model once per process (module cache), predicts one row and writes the
result to the prediction's row with one UPDATE: the best a one-job-per-prediction design does.
No Django here, so it measures RQ + model + PostgreSQL only.
"""

import json
import os

import psycopg

from registry import runtimes

_predictor = None
_connection = None


def predict_one(prediction_id: str, row: dict, artifact: dict) -> None:
    global _predictor, _connection
    if _predictor is None:
        _predictor = runtimes.load_predictor(
            artifact["path"],
            artifact["format"],
            task=artifact["task"],
            input_schema=artifact["input_schema"],
            labels=artifact["labels"],
        )
        _connection = psycopg.connect(os.environ["BENCH_DSN"], autocommit=True)
    [output] = _predictor.predict([row])
    _connection.execute(
        "UPDATE predictions_prediction SET status='succeeded', output=%s, finished_at=now() "
        "WHERE id=%s",
        (json.dumps(output), prediction_id),
    )
