"""Forecasts through the API and the real worker: one request, a JSON batch and a CSV batch of
requests, each answer equal to the library's own forecast; bad requests are 400s naming the
field."""

import json

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from registry import services as registry_services
from tests.support.api import get, submit
from tests.support.forecasts import build, lag_reference, prophet_reference, values
from tests.support.workers import finished, run_worker

pytestmark = pytest.mark.django_db(transaction=True)

HISTORY_END = "2025-12-30"


@pytest.fixture(scope="session")
def forecasters(tmp_path_factory):
    return build(tmp_path_factory.mktemp("forecasters"))


def register(forecaster, name: str):
    model = registry_services.model_create(name=name, task="forecast")
    return registry_services.version_create(
        model=model,
        artifact=forecaster.path,
        format=forecaster.fmt,
        input_schema=forecaster.spec,
        input_example=forecaster.example,
        alias="production",
    )


@pytest.fixture
def prophet(forecasters):
    register(forecasters["prophet"], "demand-prophet")
    return forecasters["prophet"]


@pytest.fixture
def weather(forecasters):
    register(forecasters["prophet-temperature"], "weather")
    return forecasters["prophet-temperature"]


@pytest.fixture
def lags(forecasters):
    register(forecasters["lightgbm"], "demand-lightgbm")
    return forecasters["lightgbm"]


def test_a_prophet_forecast_through_the_api_is_prophets_own(alice_client, prophet):
    prediction = finished(alice_client, {"model": "demand-prophet", "input": {"horizon": 14}})
    expected = prophet_reference(prophet.model, 14)
    answer = prediction["output"]
    assert (
        values(answer, "timestamp")[0] == expected["ds"].iloc[0].date().isoformat() == "2025-12-31"
    )
    assert values(answer) == expected["yhat"].tolist()
    assert values(answer, "lower") == expected["yhat_lower"].tolist()
    assert values(answer, "upper") == expected["yhat_upper"].tolist()


def test_a_lag_forecast_through_the_api_is_the_boosters_own_recursion(alice_client, lags):
    history = lags.example["history"]
    body = {"horizon": 30, "history": history, "history_end": HISTORY_END}
    prediction = finished(alice_client, {"model": "demand-lightgbm", "input": body})
    answer = prediction["output"]
    assert values(answer) == lag_reference(lags.model, history, HISTORY_END, 30)
    assert values(answer, "step") == list(range(1, 31))
    assert values(answer, "timestamp")[-1] == "2026-01-29"


def test_a_forecast_takes_the_future_values_of_the_models_regressors(alice_client, weather):
    temperatures = [3.0, 25.5, 12.0]
    body = {"horizon": 3, "temperature": temperatures}
    answer = finished(alice_client, {"model": "weather", "input": body})["output"]
    expected = prophet_reference(weather.model, 3, {"temperature": temperatures})
    assert values(answer) == expected["yhat"].tolist()


def test_a_json_batch_of_forecasts_answers_each_request_as_alone(alice_client, lags):
    history = lags.example["history"]
    requests = [
        {"horizon": 3, "history": history, "history_end": HISTORY_END},
        {"horizon": 7, "history": [120.0] * 20, "history_end": "2025-06-01"},
    ]
    prediction = finished(alice_client, {"model": "demand-lightgbm", "inputs": requests})
    assert prediction["row_count"] == 2
    assert prediction["inputs"] == [
        requests[0],
        {**requests[1], "history": [120.0] * 14},  # the last max(lags) values are kept
    ]
    first, second = prediction["output"]
    assert values(first) == lag_reference(lags.model, history, HISTORY_END, 3)
    assert values(second) == lag_reference(lags.model, [120.0] * 14, "2025-06-01", 7)
    result = alice_client.get(f"{prediction['result_url']}?format=json")
    document = json.loads(b"".join(result.streaming_content))
    assert document["outputs"] == prediction["output"]


def test_a_csv_batch_is_many_forecast_requests_and_its_results_a_line_per_step(alice_client, lags):
    history = lags.example["history"]
    text = (
        "horizon,history,history_end\n"
        f"2,{' '.join(map(str, history))},{HISTORY_END}\n"
        f"3,{' '.join(['100'] * 14)},2025-03-02\n"
    )
    upload = SimpleUploadedFile("requests.csv", text.encode(), content_type="text/csv")
    response = alice_client.post(
        "/api/v1/predictions/", {"model": "demand-lightgbm", "file": upload}, format="multipart"
    )
    assert response.status_code == 202, response.content
    run_worker()
    prediction = get(alice_client, response.json()["id"]).json()
    assert (prediction["status"], prediction["row_count"]) == ("succeeded", 2)
    result = alice_client.get(f"{prediction['result_url']}?format=csv")
    lines = b"".join(result.streaming_content).decode().splitlines()
    assert lines[0] == "request,step,timestamp,value,lower,upper"
    first = lag_reference(lags.model, history, HISTORY_END, 2)
    second = lag_reference(lags.model, [100.0] * 14, "2025-03-02", 3)
    assert lines[1:] == [
        f"0,1,2025-12-31,{first[0]!r},,",
        f"0,2,2026-01-01,{first[1]!r},,",
        f"1,1,2025-03-03,{second[0]!r},,",
        f"1,2,2025-03-04,{second[1]!r},,",
        f"1,3,2025-03-05,{second[2]!r},,",
    ]


def test_a_prophet_csv_batch_has_its_interval_in_the_results(alice_client, weather):
    text = "horizon,temperature\n2,10 11\n1,30\n"
    upload = SimpleUploadedFile("requests.csv", text.encode(), content_type="text/csv")
    response = alice_client.post(
        "/api/v1/predictions/", {"model": "weather", "file": upload}, format="multipart"
    )
    assert response.status_code == 202, response.content
    run_worker()
    result = alice_client.get(f"/api/v1/predictions/{response.json()['id']}/result/?format=csv")
    lines = b"".join(result.streaming_content).decode().splitlines()
    expected = prophet_reference(weather.model, 2, {"temperature": [10.0, 11.0]})
    value, lower, upper = expected[["yhat", "yhat_lower", "yhat_upper"]].iloc[1].tolist()
    assert lines[2] == f"0,2,2026-01-01,{value!r},{lower!r},{upper!r}"
    assert len(lines) == 4


# --- Bad requests -----------------------------------------------------------------------------


def assert_invalid(response, fields: dict) -> None:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    for field, words in fields.items():
        assert field in error["fields"], error
        assert words in error["fields"][field][0], error


def test_a_forecast_without_a_horizon_is_refused_naming_it(alice_client, prophet):
    response = submit(alice_client, {"model": "demand-prophet", "input": {}})
    assert_invalid(response, {"input.horizon": "This field is required."})


@pytest.mark.parametrize(
    ("horizon", "words"),
    [
        (91, "Must be at most 90: this model forecasts up to 90 steps."),
        (0, "Must be at least 1."),
        (2.5, "Must be a whole number of steps."),
        ("7", "Must be a whole number of steps."),
        (True, "Must be a whole number of steps."),
    ],
)
def test_a_horizon_out_of_bounds_is_refused(alice_client, prophet, horizon, words):
    response = submit(alice_client, {"model": "demand-prophet", "input": {"horizon": horizon}})
    assert_invalid(response, {"input.horizon": words})


def test_a_lag_forecast_without_history_is_refused_naming_it(alice_client, lags):
    body = {"horizon": 3, "history_end": HISTORY_END}
    response = submit(alice_client, {"model": "demand-lightgbm", "input": body})
    assert_invalid(response, {"input.history": "Send at least the last 14 values"})


def test_a_lag_forecast_with_too_short_a_history_or_no_date_is_refused(alice_client, lags):
    body = {"horizon": 3, "history": [1.0] * 13}
    response = submit(alice_client, {"model": "demand-lightgbm", "inputs": [body]})
    assert_invalid(
        response,
        {
            "inputs[0].history": "Must be a list of 14 to 10000 values",
            "inputs[0].history_end": "The calendar features need the dates.",
        },
    )


def test_history_sent_to_prophet_is_refused(alice_client, prophet):
    body = {"horizon": 3, "history": [1.0, 2.0]}
    response = submit(alice_client, {"model": "demand-prophet", "input": body})
    assert_invalid(response, {"input.history": "forecasts from the history it was fitted on"})


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"horizon": 2}, {"input.temperature": "This field is required."}),
        (
            {"horizon": 2, "temperature": [10.0]},
            {"input.temperature": "Must be a list of 2 values, one per forecast step."},
        ),
        (
            {"horizon": 2, "temperature": [10.0, 99.0]},
            {"input.temperature": "Step 2: Must be at most 60."},
        ),
        (
            {"horizon": 2, "temperature": [10.0, 11.0], "humidity": [1, 2]},
            {"input.humidity": "Unknown field; this model does not take it."},
        ),
    ],
    ids=["missing", "one value short", "out of bounds", "not a regressor of the model"],
)
def test_wrong_regressors_are_refused_naming_them(alice_client, weather, body, fields):
    response = submit(alice_client, {"model": "weather", "input": body})
    assert_invalid(response, fields)


def test_a_csv_batch_with_a_bad_history_names_the_request_and_field(alice_client, lags):
    text = f"horizon,history,history_end\n2,{' '.join(['1'] * 13)} x,{HISTORY_END}\n"
    upload = SimpleUploadedFile("requests.csv", text.encode(), content_type="text/csv")
    response = alice_client.post(
        "/api/v1/predictions/", {"model": "demand-lightgbm", "file": upload}, format="multipart"
    )
    assert_invalid(response, {"inputs[0].history": "Value 13: must be a finite number."})


def test_a_csv_batch_without_a_horizon_column_is_refused(alice_client, prophet):
    upload = SimpleUploadedFile("requests.csv", b"steps\n3\n", content_type="text/csv")
    response = alice_client.post(
        "/api/v1/predictions/", {"model": "demand-prophet", "file": upload}, format="multipart"
    )
    assert response.status_code == 400, response.content
    assert "horizon" in response.json()["error"]["fields"]["file"][0]


def test_forecasts_are_the_same_whether_run_alone_or_claimed_together(alice_client, prophet):
    ids = [
        submit(alice_client, {"model": "demand-prophet", "input": {"horizon": h}}).json()["id"]
        for h in (2, 5, 2)
    ]
    run_worker()
    outputs = [get(alice_client, pk).json()["output"] for pk in ids]
    assert outputs[0] == outputs[2]
    np.testing.assert_array_equal(values(outputs[1])[:2], values(outputs[0]))


def test_a_cancelled_forecast_batch_retried_forecasts_the_same_requests(alice_client, lags):
    history = lags.example["history"]
    requests = [{"horizon": 2, "history": history, "history_end": HISTORY_END}] * 3
    first = submit(alice_client, {"model": "demand-lightgbm", "inputs": requests}).json()
    cancel = alice_client.post(f"/api/v1/predictions/{first['id']}/cancel/")
    assert cancel.json()["status"] == "cancelled"
    retry = alice_client.post(f"/api/v1/predictions/{first['id']}/retry/")
    assert retry.status_code == 202, retry.content
    run_worker()
    retried = get(alice_client, retry.json()["id"]).json()
    assert (retried["status"], retried["retry_of"], retried["inputs"]) == (
        "succeeded",
        first["id"],
        requests,
    )
    expected = lag_reference(lags.model, history, HISTORY_END, 2)
    assert [values(answer) for answer in retried["output"]] == [expected] * 3


@pytest.mark.parametrize(("method", "path"), [("get", ""), ("get", "/ready"), ("post", "/infer")])
def test_a_forecast_model_on_the_open_inference_protocol_is_a_400_saying_where_to_go(
    alice_client, prophet, method, path
):
    response = getattr(alice_client, method)(f"/v2/models/demand-prophet{path}", format="json")
    assert response.status_code == 400, response.content
    assert "forecast with POST /api/v1/predictions/" in response.json()["error"]
