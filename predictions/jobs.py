"""RQ job functions: take an id, call one service. State lives in the database row."""

from predictions import services


def run_prediction(prediction_id: str) -> None:
    services.prediction_execute(prediction_id=prediction_id)
