"""A cold start (a worker loading a model) is told apart from inference: on the predictions, in
/metrics and on the staff dashboard, so one first load does not pass for a slow model."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from predictions import housekeeping
from predictions.models import ModelLoad, Prediction
from tests.support import hostile_models
from tests.support.api import labels, scrape, submit
from tests.support.factories import register_hostile
from tests.support.workers import run_worker

pytestmark = pytest.mark.django_db(transaction=True)

LOAD = hostile_models.SlowToLoadRegressor.LOAD_SECONDS
VERSION = labels(model="slow-to-load", version="1")


@pytest.fixture
def slow_to_load(db, tmp_path):
    return register_hostile("slow-to-load", hostile_models.SlowToLoadRegressor, tmp_path)


def cold_then_warm(client) -> tuple[Prediction, Prediction]:
    """Two predictions, each run by the worker on its own: the first loads the model."""
    ids = []
    for _ in range(2):
        ids.append(
            submit(client, {"model": "slow-to-load", "input": {"x": 1, "y": 2}}).json()["id"]
        )
        run_worker()
    return Prediction.objects.get(pk=ids[0]), Prediction.objects.get(pk=ids[1])


def test_the_first_prediction_waits_for_the_load_before_it_starts(alice_client, slow_to_load):
    cold, warm = cold_then_warm(alice_client)

    [load] = ModelLoad.objects.all()
    assert load.version_id == cold.version_id and load.seconds >= LOAD
    assert cold.load_seconds == load.seconds and warm.load_seconds is None
    assert cold.output == warm.output == {"value": 3.0}
    # The load happened before the prediction started: it counts in what the user waited,
    # never in the model's inference time.
    assert (cold.finished_at - cold.created_at).total_seconds() >= LOAD
    assert (cold.finished_at - cold.started_at).total_seconds() < LOAD / 2


def test_metrics_count_the_load_apart_from_inference(client, alice_client, slow_to_load):
    cold_then_warm(alice_client)
    samples = scrape(client)

    loads = "mlservice_model_load_seconds"
    assert samples[f"{loads}_gcount"][VERSION] == 1
    assert samples[f"{loads}_gsum"][VERSION] >= LOAD
    assert samples[f"{loads}_bucket"][VERSION | {("le", "0.5")}] == 0
    assert samples[f"{loads}_bucket"][VERSION | {("le", "1.0")}] == 1

    inference = "mlservice_prediction_inference_seconds"
    assert samples[f"{inference}_gcount"][VERSION] == 2
    assert samples[f"{inference}_bucket"][VERSION | {("le", "0.25")}] == 2  # both are fast

    end_to_end = "mlservice_prediction_end_to_end_seconds"
    assert samples[f"{end_to_end}_bucket"][VERSION | {("le", "0.5")}] == 1  # only the warm one


def version_row(page: str, label: str) -> list[str]:
    """The cells of the dashboard's version table row for `label`, as text."""
    table = page.split('id="version-table"', 1)[1].split("</table>", 1)[0]
    [row] = [row for row in table.split("</tr>") if f"<td>{label}</td>" in row]
    return [re.sub(r"\s+", " ", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]


def test_the_dashboard_shows_the_load_on_its_own_and_inference_without_it(
    admin_client, alice_client, slow_to_load
):
    cold, _ = cold_then_warm(alice_client)
    page = admin_client.get("/admin/dashboard/?days=1").content.decode()

    name, _aliases, count, _failures, end_to_end, inference, loads = version_row(
        page, "slow-to-load v1"
    )
    assert count == "2"
    assert loads == f"1 (p50 {cold.load_seconds:.3f} s, max {cold.load_seconds:.3f} s)"
    inference_p95 = float(inference.split(" / ")[1].removesuffix(" s"))
    end_to_end_p95 = float(end_to_end.split(" / ")[1].removesuffix(" s"))
    assert inference_p95 < 0.25 <= LOAD <= end_to_end_p95
    chart = page.split('id="chart-latency"', 1)[1]
    assert "model load (max)" in chart and f"{cold.load_seconds:.3g} s" in chart


def test_purging_old_predictions_drops_the_loads_of_that_time(alice_client, slow_to_load):
    cold_then_warm(alice_client)
    ModelLoad.objects.update(loaded_at=timezone.now() - timedelta(days=40))
    housekeeping.purge(older_than=timedelta(days=30), statuses=["succeeded"])
    assert not ModelLoad.objects.exists()
    assert Prediction.objects.count() == 2  # made today: kept
