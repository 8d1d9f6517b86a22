import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from sklearn.datasets import load_iris
from sklearn.linear_model import Ridge

from registry import demo
from registry import services as registry_services
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.predictions.conftest import (  # noqa: F401 - fixtures used by these tests
    SETOSA,
    VIRGINICA,
    _fresh_queue_and_cache,
    alice,
    alice_client,
    get,
    iris,
    media_root,
    run_worker,
    submit,
)
from tests.registry.conftest import DIABETES, artifacts  # noqa: F401
from tests.support.forecasts import LAG_SPEC

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def diabetes(db, artifacts):  # noqa: F811
    model = registry_services.model_create(name="diabetes", task="regression")
    version = registry_services.version_create(
        model=model,
        artifact=artifacts.diabetes_skops,
        format="skops",
        input_schema=DIABETES.input_schema,
        input_example=DIABETES.input_example,
        trusted_operator=True,
    )
    registry_services.alias_set(model=model, alias="production", version=version)
    return model


@pytest.fixture(scope="session")
def lag_forecaster(tmp_path_factory):
    """A Ridge regression on the demo series' lags, saved with skops."""
    X, y = demo.lag_dataset(demo.DEMAND_LIGHTGBM)
    path = tmp_path_factory.mktemp("forecaster") / "lag.skops"
    demo.export_skops(Ridge(alpha=1.0).fit(X, y), path)
    return path


@pytest.fixture
def demand(db, lag_forecaster):
    model = registry_services.model_create(name="demand", task="forecast")
    return registry_services.version_create(
        model=model,
        artifact=lag_forecaster,
        format="skops",
        input_schema=LAG_SPEC,
        input_example=demo.DEMAND_LIGHTGBM.input_example,
        alias="production",
        trusted_operator=True,
    )


@pytest.fixture
def bob_client(db):
    return client_for(UserFactory(username="bob"))


def finished(client, body) -> dict:
    """Submit, run the worker, and read the finished prediction."""
    response = submit(client, body)
    assert response.status_code == 202, response.content
    run_worker()
    prediction = get(client, response.json()["id"]).json()
    assert prediction["status"] == "succeeded", prediction
    return prediction


def feedback(client, prediction_id, truth, **extra):
    return client.post(
        f"/api/v1/predictions/{prediction_id}/feedback/",
        {"truth": truth, **extra},
        format="json",
    )


def quality(client, model, **params) -> dict:
    response = client.get(f"/api/v1/models/{model}/quality/", params)
    assert response.status_code == 200, response.content
    return response.json()


NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def iris_rows(count: int, shift: dict | None = None) -> list[dict]:
    data = load_iris().data
    rows = [dict(zip(NAMES, data[i % len(data)].tolist(), strict=True)) for i in range(count)]
    for row in rows:
        for name, by in (shift or {}).items():
            row[name] = round(row[name] + by, 2)
    return rows


def reference_csv() -> SimpleUploadedFile:
    lines = [",".join(NAMES)] + [",".join(map(str, r.values())) for r in iris_rows(150)]
    return SimpleUploadedFile("reference.csv", ("\n".join(lines) + "\n").encode())


def upload_reference(client, version: int = 2):
    return client.post(
        f"/api/v1/models/iris/versions/{version}/reference/",
        {"file": reference_csv()},
        format="multipart",
    )
