"""Forecasting models: Prophet JSON and regressors run on lags, registered through the API and
the admin, forecasting exactly what their libraries forecast, and bad or hostile uploads
refused with a 400 that names the problem, nothing stored."""

import json

import numpy as np
import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from registry import demo, forecasts, runtimes
from registry.models import ModelVersion
from tests.support.api import assert_rejected
from tests.support.factories import MLModelFactory
from tests.support.forecasts import (
    LAG_SPEC,
    PROPHET_SPEC,
    build,
    lag_reference,
    prophet_reference,
    values,
)
from tests.support.models import stored_files


@pytest.fixture(scope="session")
def forecasters(tmp_path_factory):
    return build(tmp_path_factory.mktemp("forecasters"))


@pytest.fixture
def demand(db):
    return MLModelFactory(name="demand", task="forecast", title="Demand")


def upload(client, forecaster, *, model="demand", **overrides):
    body = {
        "artifact": SimpleUploadedFile("model.json", forecaster.path.read_bytes()),
        "format": forecaster.fmt,
        "input_schema": json.dumps(forecaster.spec),
        "input_example": json.dumps(forecaster.example),
    }
    body.update(overrides)
    return client.post(f"/api/v1/models/{model}/versions/", body, format="multipart")


def load(forecaster):
    return runtimes.load_predictor(
        forecaster.path, forecaster.fmt, task="forecast", input_schema=forecaster.spec, labels=None
    )


# --- Forecasts equal the libraries' own -------------------------------------------------------


@pytest.mark.parametrize("horizon", [1, 14, 90])
def test_a_prophet_forecast_is_prophets_own_forecast_for_the_same_horizon(forecasters, horizon):
    prophet = forecasters["prophet"]
    [answer] = load(prophet).predict([{"horizon": horizon}])
    expected = prophet_reference(prophet.model, horizon)
    assert values(answer, "step") == list(range(1, horizon + 1))
    assert values(answer, "timestamp") == [d.date().isoformat() for d in expected["ds"]]
    assert values(answer) == expected["yhat"].tolist()
    assert values(answer, "lower") == expected["yhat_lower"].tolist()
    assert values(answer, "upper") == expected["yhat_upper"].tolist()


def test_a_prophet_forecast_takes_the_future_values_of_its_regressors(forecasters):
    prophet = forecasters["prophet-temperature"]
    temperatures = [3.0, 30.0, 12.5, 14.0]
    [answer] = load(prophet).predict([{"horizon": 4, "temperature": temperatures}])
    expected = prophet_reference(prophet.model, 4, {"temperature": temperatures})
    assert values(answer) == expected["yhat"].tolist()
    assert (
        values(answer)
        != prophet_reference(prophet.model, 4, {"temperature": [15.0] * 4})["yhat"].tolist()
    )


def test_the_same_prophet_request_gets_the_same_interval_every_time(forecasters):
    predictor = load(forecasters["prophet"])
    np.random.seed(123)  # whatever state numpy's generator is in
    first = predictor.predict([{"horizon": 7}])
    np.random.random(1000)
    assert predictor.predict([{"horizon": 7}]) == first


@pytest.mark.parametrize("fmt", ["lightgbm", "xgboost", "skops", "onnx"])
def test_a_lag_model_forecasts_its_regressors_own_predictions_step_by_step(forecasters, fmt):
    forecaster = forecasters[fmt]
    example = forecaster.example
    request = {"horizon": 30, "history": example["history"], "history_end": "2025-12-30"}
    [answer] = load(forecaster).predict([request])
    expected = lag_reference(forecaster.model, example["history"], "2025-12-30", 30)
    assert values(answer, "timestamp")[:2] == ["2025-12-31", "2026-01-01"]
    assert "lower" not in answer["forecast"][0]
    if fmt == "onnx":  # onnxruntime computes in float32
        np.testing.assert_allclose(values(answer), expected, rtol=1e-4)
    else:
        assert values(answer) == expected


def test_a_lag_model_forecasts_a_batch_as_it_forecasts_each_request_alone(forecasters):
    predictor = load(forecasters["lightgbm"])
    history = forecasters["lightgbm"].example["history"]
    requests = [
        {"horizon": 5, "history": history, "history_end": "2025-12-30"},
        {"horizon": 12, "history": history[::-1], "history_end": "2025-06-01"},
        {"horizon": 1, "history": [100.0] * 14, "history_end": "2025-01-01"},
    ]
    assert predictor.predict(requests) == [predictor.predict([r])[0] for r in requests]


def test_a_lag_model_without_dates_numbers_its_steps():
    spec = {"max_horizon": 5, "lags": [1]}
    from sklearn.linear_model import LinearRegression

    from registry.runtimes.forecasters import LagForecaster
    from registry.runtimes.sklearn import SklearnPredictor

    regressor = LinearRegression().fit([[0.0], [1.0]], [1.0, 3.0])  # y = 2 x + 1
    predictor = SklearnPredictor(
        regressor, task="regression", input_schema=forecasts.model_features(spec), labels=None
    )
    [answer] = LagForecaster(predictor, spec=spec).predict([{"horizon": 3, "history": [1.0]}])
    assert answer == {
        "forecast": [
            {"step": 1, "value": pytest.approx(3.0)},
            {"step": 2, "value": pytest.approx(7.0)},
            {"step": 3, "value": pytest.approx(15.0)},
        ]
    }


# --- Registered through the API ---------------------------------------------------------------


@pytest.mark.django_db
def test_staff_register_a_prophet_model_and_users_read_its_request_schema(
    staff_client, user_client, demand, forecasters
):
    response = upload(staff_client, forecasters["prophet"], alias="production")
    assert response.status_code == 201, response.content
    version = response.json()
    assert (version["format"], version["runtime"], version["twin_report"]) == (
        "prophet",
        "prophet",
        {},
    )
    schema = user_client.get("/api/v1/models/demand/schema/").json()
    assert schema["example"] == {"horizon": 14}
    assert schema["json_schema"]["required"] == ["horizon"]
    assert schema["json_schema"]["properties"]["horizon"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 90,
        "description": "How many steps to forecast.",
    }
    assert schema["json_schema"]["additionalProperties"] is False


@pytest.mark.django_db
def test_a_lag_models_schema_asks_for_its_history_and_the_date_of_its_last_value(
    staff_client, user_client, demand, forecasters
):
    response = upload(staff_client, forecasters["lightgbm"])
    assert response.status_code == 201, response.content
    assert response.json()["runtime"] == "lightgbm (lags)"
    json_schema = user_client.get("/api/v1/models/demand/schema/?version=1").json()["json_schema"]
    assert json_schema["required"] == ["horizon", "history", "history_end"]
    assert json_schema["properties"]["history"]["minItems"] == 14


@pytest.mark.django_db
def test_a_prophet_models_regressors_are_arrays_of_one_value_per_step(
    staff_client, user_client, demand, forecasters
):
    response = upload(staff_client, forecasters["prophet-temperature"])
    assert response.status_code == 201, response.content
    json_schema = user_client.get("/api/v1/models/demand/schema/?version=1").json()["json_schema"]
    assert json_schema["required"] == ["horizon", "temperature"]
    assert json_schema["properties"]["temperature"]["items"] == {
        "type": "number",
        "minimum": -50,
        "maximum": 60,
    }


def _spec(forecaster, **changes):
    spec = {**forecaster.spec, **changes}
    return json.dumps({k: v for k, v in spec.items() if v is not None})


REFUSALS = {
    "a Prophet file stated as LightGBM": (
        "prophet",
        {
            "format": "lightgbm",
            "input_schema": json.dumps(LAG_SPEC),
            "input_example": json.dumps(demo.DEMAND_LIGHTGBM.input_example),
        },
        "format_mismatch",
        "looks like prophet",
    ),
    "a LightGBM file stated as Prophet": (
        "lightgbm",
        {
            "format": "prophet",
            "input_schema": json.dumps(PROPHET_SPEC),
            "input_example": '{"horizon": 2}',
        },
        "format_mismatch",
        "looks like lightgbm",
    ),
    "regressors the Prophet model does not take": (
        "prophet",
        {"input_schema": json.dumps({**PROPHET_SPEC, "regressors": [{"name": "price"}]})},
        "invalid",
        "type must be one of",
    ),
    "a regressor the Prophet model takes left out": (
        "prophet-temperature",
        {"input_schema": json.dumps(PROPHET_SPEC), "input_example": '{"horizon": 2}'},
        "schema_mismatch",
        "the model takes the regressors ['temperature'] but the input schema declares []",
    ),
    "lags for a Prophet model": (
        "prophet",
        {"input_schema": json.dumps({**PROPHET_SPEC, "lags": [1]})},
        "invalid",
        "lags is for lag models",
    ),
    "a lag model without lags": (
        "lightgbm",
        {"input_schema": json.dumps(PROPHET_SPEC), "input_example": '{"horizon": 2}'},
        "invalid",
        "lags must be a non-empty list",
    ),
    "lags the model was not trained on": (
        "lightgbm",
        {
            "input_schema": json.dumps({**LAG_SPEC, "lags": [1, 2, 3, 7, 21]}),
            "input_example": json.dumps(
                {**demo.DEMAND_LIGHTGBM.input_example, "history": [100.0] * 21}
            ),
        },
        "schema_mismatch",
        "the model was fitted on the features",
    ),
    "a horizon over the global limit": (
        "prophet",
        {"input_schema": json.dumps({**PROPHET_SPEC, "max_horizon": 5000})},
        "invalid",
        "max_horizon must be a whole number from 1 to 1000",
    ),
    "an example past the version's horizon": (
        "prophet",
        {"input_example": '{"horizon": 91}'},
        "invalid",
        "horizon: Must be at most 90",
    ),
    "an example without the history a lag model needs": (
        "lightgbm",
        {"input_example": '{"horizon": 3, "history_end": "2025-12-30"}'},
        "invalid",
        "history: This field is required.",
    ),
    "calendar features without a frequency": (
        "lightgbm",
        {"input_schema": json.dumps({k: v for k, v in LAG_SPEC.items() if k != "frequency"})},
        "invalid",
        "calendar features need a frequency",
    ),
    "class labels on a forecaster": (
        "prophet",
        {"labels": '["up", "down"]'},
        "invalid",
        "A forecast model has no class labels.",
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", REFUSALS)
def test_a_forecaster_that_does_not_fit_its_version_is_refused_naming_the_problem(
    staff_client, demand, forecasters, media_root, case
):
    name, overrides, code, words = REFUSALS[case]
    response = upload(staff_client, forecasters[name], **overrides)
    assert_rejected(response, 400, code, media_root)
    assert words in json.dumps(response.json()), response.json()
    assert ModelVersion.objects.count() == 0 and stored_files(media_root) == []


@pytest.mark.django_db
def test_a_prophet_model_is_refused_for_a_regression_model(staff_client, forecasters, media_root):
    MLModelFactory(name="sales", task="regression")
    response = upload(
        staff_client,
        forecasters["prophet"],
        model="sales",
        input_schema='[{"name": "x", "type": "number"}]',
        input_example='{"x": 1}',
    )
    assert_rejected(response, 400, "task_mismatch", media_root)
    assert "register it under a forecast model" in response.json()["error"]["message"]


# --- Hostile Prophet files --------------------------------------------------------------------


def _mutated(forecasters, mutate) -> bytes:
    document = json.loads(forecasters["prophet"].path.read_text())
    mutate(document)
    return json.dumps(document).encode()


def _seasonality(**changes):
    def mutate(document):
        document["seasonalities"][1]["weekly"].update(changes)

    return mutate


def _holiday_window(document):
    holidays = pd.DataFrame(
        {
            "ds": pd.to_datetime(["2025-12-25"]),
            "holiday": ["xmas"],
            "lower_window": [0],
            "upper_window": [10**9],
        }
    )
    document["holidays"] = holidays.to_json(orient="table", index=False)


HOSTILE = {
    "a billion Fourier terms": (_seasonality(fourier_order=10**9), "fourier_order must be"),
    "a seasonality of period zero": (_seasonality(period=0), "period must be positive"),
    "a conditional seasonality": (_seasonality(condition_name="on_season"), "conditional"),
    "a holiday whose effect lasts a billion days": (_holiday_window, "within 366 days"),
    "logistic growth": (lambda d: d.update(growth="logistic"), "logistic growth needs"),
    "a million uncertainty samples": (
        lambda d: d.update(uncertainty_samples=10**6),
        "uncertainty_samples must be",
    ),
    "more changepoint deltas than changepoints": (
        lambda d: d["params"]["delta"][0].append(0.1),
        "changepoints",
    ),
    "a parameter that is not a matrix": (
        lambda d: d["params"].update(k="a"),
        "parameter k must be",
    ),
    "a history that is not a frame": (
        lambda d: d.update(history={"rows": 1}),
        "history must be a frame",
    ),
    "an unknown key": (lambda d: d.update(stan_backend="exec"), "unknown ['stan_backend']"),
    "holidays of a country that is not a code": (
        lambda d: d.update(country_holidays="__class__"),
        "country_holidays must be a country code",
    ),
    "a frame pandas cannot read": (
        lambda d: d.update(history_dates='{"name":"ds","index":[0],"data":'),
        "could not be loaded",
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_prophet_file_is_refused_with_a_400(
    staff_client, demand, forecasters, media_root, case
):
    mutate, words = HOSTILE[case]
    response = upload(
        staff_client,
        forecasters["prophet"],
        artifact=SimpleUploadedFile("m.json", _mutated(forecasters, mutate)),
    )
    assert response.status_code == 400, response.content
    assert words in response.json()["error"]["message"], response.json()
    assert ModelVersion.objects.count() == 0 and stored_files(media_root) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content",
    [
        b'{"__prophet_version": "1.5.0", "params": {"k": [[NaN]]}}',
        b"\x80\x04\x95 a pickle, named model.json",
        b'{"__prophet_version": "1.5.0", "params": {',
        b"[" * 100_000,
    ],
    ids=["NaN", "a pickle", "truncated", "nested too deep"],
)
def test_a_file_that_is_not_strict_prophet_json_is_refused(
    staff_client, demand, forecasters, media_root, content
):
    response = upload(
        staff_client, forecasters["prophet"], artifact=SimpleUploadedFile("m.json", content)
    )
    assert_rejected(response, 400, "format_mismatch", media_root)


# --- The admin --------------------------------------------------------------------------------


def admin_upload(client, model, forecaster, **overrides):
    form = {
        "model": model.pk,
        "artifact": SimpleUploadedFile("upload.json", forecaster.path.read_bytes()),
        "format": forecaster.fmt,
        "input_schema": json.dumps(forecaster.spec),
        "input_example": json.dumps(forecaster.example),
        "labels": "",
        "metrics": "{}",
        "timeout_seconds": 60,
    }
    return client.post("/admin/registry/modelversion/add/", {**form, **overrides})


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["prophet", "lightgbm"])
def test_staff_register_a_forecaster_in_the_admin(admin_client, demand, forecasters, name):
    response = admin_upload(admin_client, demand, forecasters[name])
    assert response.status_code == 302, response.content.decode()[:2000]
    version = ModelVersion.objects.get()
    assert version.format == name and version.runtime.startswith(name)


@pytest.mark.django_db
def test_the_admin_shows_why_a_forecaster_was_refused(admin_client, demand, forecasters):
    spec = json.dumps({**forecasters["prophet"].spec, "max_horizon": 0})
    response = admin_upload(admin_client, demand, forecasters["prophet"], input_schema=spec)
    assert response.status_code == 200
    assert "max_horizon must be a whole number from 1 to 1000" in response.content.decode()
    assert ModelVersion.objects.count() == 0
