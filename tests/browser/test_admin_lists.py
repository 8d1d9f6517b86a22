"""The staff's prediction list in a real browser, on a 1400-pixel-wide screen."""

import re

import pytest
from playwright.sync_api import expect

from mlservice.redis import redis_connection
from predictions.cache import predictors
from predictions.models import Prediction
from predictions.queue import get_queue
from predictions.worker import PredictionWorker
from tests.support.api import client_for
from tests.support.factories import (
    DEFAULT_PASSWORD,
    MLModelFactory,
    ModelVersionFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
LONG_MODEL_NAME = ("iris-species-classifier-" * 3)[:64]  # the longest name allowed


@pytest.fixture
def viewport() -> dict:
    return {"width": 1400, "height": 900}


def iris_named(name: str, artifacts):
    ModelVersionFactory(
        model=MLModelFactory(name=name, title=name), format="onnx", alias="production"
    )


def predictions_of_every_kind(artifacts) -> dict[str, str]:
    """Finished singles and a batch, a running batch, a cancelled one, submitted through the API
    by a user with the longest username allowed; returns their ids by kind."""
    redis_connection().flushdb()
    predictors.clear()
    iris_named("iris", artifacts)
    iris_named(LONG_MODEL_NAME, artifacts)
    api = client_for(UserFactory(username="u" * 150))

    def submit(model, **body):
        response = api.post("/api/v1/predictions/", {"model": model, **body}, format="json")
        assert response.status_code == 202, response.content
        return response.json()["id"]

    ids = {
        "single": submit("iris", input=SETOSA),
        "long": submit(LONG_MODEL_NAME, input=SETOSA),
        "batch": submit("iris", inputs=[SETOSA] * 3),
    }
    PredictionWorker([get_queue()], connection=redis_connection()).work(burst=True)
    ids["running"] = submit("iris", inputs=[SETOSA] * 1000)
    assert Prediction.objects.get(pk=ids["running"]).mark_running(lease_seconds=60)
    ids["cancelled"] = submit("iris", input=SETOSA)
    assert api.post(f"/api/v1/predictions/{ids['cancelled']}/cancel/").status_code == 200
    redis_connection().flushdb()
    return ids


def test_the_prediction_list_shows_short_ids_results_and_durations_within_1400_pixels(
    page, live_server, artifacts
):
    ids = predictions_of_every_kind(artifacts)
    UserFactory(username="ops", is_staff=True, is_superuser=True)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/predictions/prediction/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", DEFAULT_PASSWORD)
    page.click("input[type=submit]")

    def row(kind):
        return page.locator("#result_list tbody tr", has_text=ids[kind][:8])

    expect(row("single").locator("td.field-result")).to_have_text(re.compile(r"^setosa \(\d+%\)$"))
    expect(row("single").locator("th a")).to_have_text(ids["single"][:8])
    # The first prediction on iris waited for the worker to load it; the batch after it did not.
    duration = r"\d+(\.\d)? (ms|s)"
    expect(row("single").locator("td.field-duration")).to_have_text(
        re.compile(rf"^{duration} \+ {duration} load$")
    )
    expect(row("batch").locator("td.field-duration")).to_have_text(re.compile(rf"^{duration}$"))
    expect(row("long").locator(f'[title="{LONG_MODEL_NAME} v1"]')).to_be_visible()
    expect(row("long")).to_contain_text(" v1")
    expect(row("batch").locator("td.field-result")).to_have_text("3 rows")
    expect(row("running").locator("td.field-result")).to_have_text("1,000 rows, 0% done")
    expect(row("cancelled").locator("td.field-result")).to_have_text("cancelled")
    expect(row("running").locator("td.field-duration")).to_have_text("-")

    overflow = page.evaluate(
        """() => {
            const results = document.querySelector('#changelist .results');
            return {
                results: results.scrollWidth - results.clientWidth,
                page: document.documentElement.scrollWidth - window.innerWidth,
            };
        }"""
    )
    assert overflow == {"results": 0, "page": 0}
