"""Predictions from LightGBM and XGBoost versions, run by the real worker over a whole dataset,
equal what the libraries themselves predict."""

import json

import numpy as np
import pytest

from registry import demo
from tests.support.api import submit
from tests.support.factories import MLModelFactory, ModelVersionFactory
from tests.support.workers import run_worker

pytestmark = pytest.mark.django_db(transaction=True)


def register(booster, *, name: str):
    return ModelVersionFactory(
        model=MLModelFactory(name=name, task=booster.spec.task, title=""),
        artifact=booster.path,
        format=booster.fmt,
        spec=booster.spec,
        trusted_operator=False,
        alias="production",
    )


def batch_outputs(client, model: str, rows: list[dict]) -> list[dict]:
    response = submit(client, {"model": model, "inputs": rows})
    assert response.status_code == 202, response.content
    run_worker()
    result = client.get(f"/api/v1/predictions/{response.json()['id']}/result/?format=json")
    assert result.status_code == 200
    document = json.loads(b"".join(result.streaming_content))
    assert document["row_count"] == len(rows)
    return document["outputs"]


@pytest.mark.parametrize("twins", [True, False], ids=["onnx-twin", "native"])
@pytest.mark.parametrize(
    "name", ["lightgbm-binary", "xgboost-binary-ubj", "lightgbm-regressor", "xgboost-regressor"]
)
def test_the_worker_predicts_what_the_library_predicts_on_the_whole_dataset(
    alice_client,
    boosters,
    settings,
    name,
    twins,  # noqa: F811
):
    settings.REGISTRY_ONNX_TWINS = twins
    booster = boosters[name]
    version = register(booster, name=name)
    assert version.serving_runtime == ("onnxruntime (twin)" if twins else booster.fmt)
    rows, X, _ = demo.dataset(booster.spec.name)
    outputs = batch_outputs(alice_client, name, rows)
    # The twin computes in float32, the libraries in float64 (LightGBM) or float32 (XGBoost).
    tolerance = {"rtol": 1e-5, "atol": 1e-5} if twins else {"rtol": 1e-12, "atol": 0}
    if booster.spec.task == "regression":
        values = np.array([o["value"] for o in outputs])
        np.testing.assert_allclose(values, booster.estimator.predict(X), **tolerance)
        return
    labels = booster.spec.labels
    assert [o["label"] for o in outputs] == [labels[i] for i in booster.estimator.predict(X)]
    probabilities = np.array([[o["probabilities"][lab] for lab in labels] for o in outputs])
    np.testing.assert_allclose(probabilities, booster.estimator.predict_proba(X), **tolerance)
