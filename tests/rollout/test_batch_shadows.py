"""Shadows of batch predictions: each chunk the worker ran is run by each shadow once the batch
is stored and announced, and the comparison counts every row."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from billing.services import account_for
from evidence.models import ShadowFeedback
from evidence.services import feedback_create
from predictions.models import Prediction, ShadowRun
from registry import services as registry_services
from tests.support.api import labels, scrape
from tests.support.rollout import shadow, version
from tests.support.workers import run_worker, worker_subprocess

pytestmark = pytest.mark.django_db(transaction=True)

COMPARE = "/api/v1/models/xy/compare/"


@pytest.fixture(autouse=True)
def _chunks_of_two(settings):
    """Batches stored two rows a chunk, so a small batch has several."""
    settings.PREDICTION_CHUNK_ROWS = 2


def submit_batch(client, xs, **body) -> str:
    response = client.post(
        "/api/v1/predictions/",
        {"model": "xy", "inputs": [{"x": x, "y": 1} for x in xs], **body},
        format="json",
    )
    assert response.status_code == 202, response.content
    return response.json()["id"]


def answer(client, pk) -> dict:
    return client.get(f"/api/v1/predictions/{pk}/").json()


def runs_of(pk) -> list[ShadowRun]:
    return list(ShadowRun.objects.filter(prediction_id=pk).order_by("start"))


def test_a_batch_through_the_alias_is_shadowed_chunk_by_chunk(xy, alice, alice_client):
    registry_services.version_set_price(version=version(xy, 1), price_per_row=Decimal(2))
    balance = account_for(alice).available
    shadow(xy, 2)
    pk = submit_batch(alice_client, [3, 100, 20, 5, 7])
    run_worker()
    body = answer(alice_client, pk)
    # The user's answer is the primary's (x + y), charged once per row at the primary's price.
    assert body["status"] == "succeeded"
    assert body["output"] == [{"value": v} for v in (4.0, 101.0, 21.0, 6.0, 8.0)]
    assert "shadow" not in str(body)
    assert account_for(alice).available == balance - Decimal(10)
    runs = runs_of(pk)
    assert [(r.start, r.rows, r.status) for r in runs] == [
        (0, 2, "succeeded"),
        (2, 2, "succeeded"),
        (4, 1, "succeeded"),
    ]
    assert [o["value"] for r in runs for o in r.outputs] == [4.5, 101.5, 21.5, 6.5, 8.5]
    assert [o["value"] for r in runs for o in r.primary_outputs] == [4.0, 101.0, 21.0, 6.0, 8.0]
    # Each row waited for the whole batch: every chunk carries the shadow's time over all three.
    assert len({r.duration_ms for r in runs}) == 1 and runs[0].duration_ms > 0
    finished = Prediction.objects.get(pk=pk).finished_at
    assert min(r.created_at for r in runs) >= finished


def test_a_csv_upload_through_the_alias_is_shadowed(xy, alice_client):
    shadow(xy, 2)
    upload = SimpleUploadedFile("rows.csv", b"x,y\n3,1\n100,1\n20,1\n", "text/csv")
    response = alice_client.post(
        "/api/v1/predictions/", {"model": "xy", "file": upload}, format="multipart"
    )
    assert response.status_code == 202, response.content
    run_worker()
    runs = runs_of(response.json()["id"])
    assert [o["value"] for r in runs for o in r.outputs] == [4.5, 101.5, 21.5]


def test_batches_naming_a_version_are_not_shadowed(xy, alice_client):
    shadow(xy, 2)
    explicit = submit_batch(alice_client, [3, 4, 5], version="1")
    itself = submit_batch(alice_client, [3, 4, 5], version="2")
    run_worker()
    assert answer(alice_client, explicit)["status"] == "succeeded"
    assert not ShadowRun.objects.filter(prediction_id__in=[explicit, itself]).exists()


def test_a_shadow_that_raises_never_changes_the_batchs_answer(xy, raising, alice_client):
    baseline = submit_batch(alice_client, [3, 4, 5])
    run_worker()
    shadow(xy, 3)
    shadowed = submit_batch(alice_client, [3, 4, 5])
    run_worker()
    before, after = answer(alice_client, baseline), answer(alice_client, shadowed)
    assert (after["status"], after["error"]) == ("succeeded", None)
    assert after["output"] == before["output"]
    runs = runs_of(shadowed)
    assert [(r.start, r.status, r.error["code"]) for r in runs] == [
        (0, "failed", "model_error"),
        (2, "failed", "model_error"),
    ]
    assert "this shadow always fails" in runs[0].error["message"]


def inference_seconds(pk) -> float:
    prediction = Prediction.objects.get(pk=pk)
    return (prediction.finished_at - prediction.started_at).total_seconds()


def test_a_shadow_that_sleeps_never_slows_the_batch_and_stops_at_its_timeout(
    xy, sleeping, alice_client, settings
):
    settings.ROLLOUT_SHADOW_TIMEOUT_SECONDS = 1
    baseline = submit_batch(alice_client, [3, 4, 5, 6])
    run_worker()
    shadow(xy, 3)  # sleeps 3 s a call
    shadowed = submit_batch(alice_client, [3, 4, 5, 6])
    run_worker()
    assert answer(alice_client, shadowed)["output"] == answer(alice_client, baseline)["output"]
    assert inference_seconds(shadowed) < 0.5
    assert inference_seconds(shadowed) < inference_seconds(baseline) + 0.3
    # The first chunk is cut at 1 s; the second is not run at all.
    first, second = runs_of(shadowed)
    assert (first.status, first.error["code"]) == ("failed", "timeout")
    assert (second.status, second.error["code"]) == ("skipped", "no_time")
    finished = Prediction.objects.get(pk=shadowed).finished_at
    assert (first.created_at - finished).total_seconds() >= 0.9


def test_the_batchs_waiter_has_its_answer_while_a_slow_shadow_still_runs(
    xy, sleeping, alice_client, media_root
):
    """A real worker process: the waiting request answers before the shadow (3 s) is done."""
    shadow(xy, 3)
    pk = submit_batch(alice_client, [3, 4])
    worker = worker_subprocess(media_root)
    try:
        body = alice_client.get(f"/api/v1/predictions/{pk}/", {"wait": 30}).json()
        shadow_runs_then = ShadowRun.objects.filter(prediction_id=pk).count()
        output, _ = worker.communicate(timeout=120)
    finally:
        worker.kill()
    assert (body["status"], body["output"]) == ("succeeded", [{"value": 4.0}, {"value": 5.0}])
    assert shadow_runs_then == 0, output[-2000:]
    [run] = runs_of(pk)
    assert (run.status, run.outputs) == ("succeeded", [{"value": 4.0}, {"value": 5.0}])
    assert run.duration_ms >= 3000


def test_a_batchs_rows_are_skipped_and_counted_when_the_queue_is_behind(
    xy, alice_client, settings, client
):
    settings.ROLLOUT_SHADOW_SKIP_BEHIND_SECONDS = 0
    shadow(xy, 2)
    pk = submit_batch(alice_client, [3, 4, 5])
    waiting = submit_batch(alice_client, [5], version="2")
    Prediction.objects.filter(pk=waiting).update(created_at="2020-01-01T00:00:00Z")
    run_worker()
    assert answer(alice_client, pk)["status"] == "succeeded"
    assert [(r.status, r.error["code"]) for r in runs_of(pk)] == [("skipped", "queue_behind")] * 2
    shadow_runs = scrape(client)["mlservice_shadow_runs"]
    assert shadow_runs[labels(model="xy", version="2", status="skipped")] == 3


def test_the_comparison_counts_each_row_of_a_batch(xy, alice, alice_client, staff_client):
    shadow(xy, 2)
    # v2 adds 0.5: within 1% of 101 and 201, not of 4, 6 or 21.
    pk = submit_batch(alice_client, [3, 100, 20, 200, 5])
    single = alice_client.post(
        "/api/v1/predictions/", {"model": "xy", "input": {"x": 300, "y": 1}}, format="json"
    ).json()["id"]
    run_worker()
    body = staff_client.get(COMPARE, {"version": 2}).json()
    shadow_summary = body["shadow"]
    assert {k: shadow_summary[k] for k in ("runs", "skipped", "compared", "agreements")} == {
        "runs": 6,
        "skipped": 0,
        "compared": 6,
        "agreements": 3,
    }
    assert shadow_summary["error_rate"] == {"version": 0.0, "against": 0.0}
    assert shadow_summary["latency_ms"]["version"]["p50"] > 0
    listed = body["disagreements"]
    assert listed["count"] == 3
    assert sorted((d["prediction"], d["row"]) for d in listed["results"]) == [
        (pk, 0),
        (pk, 2),
        (pk, 4),
    ]
    by_row = {d["row"]: d for d in listed["results"]}
    assert (by_row[2]["input"], by_row[2]["output"], by_row[2]["shadow_output"]) == (
        {"x": 20, "y": 1},
        {"value": 21.0},
        {"value": 21.5},
    )
    assert single not in {d["prediction"] for d in listed["results"]}


def test_both_versions_quality_on_the_same_batch_rows(xy, alice, alice_client, staff_client):
    shadow(xy, 2)
    pk = submit_batch(alice_client, [3, 100, 20])  # v1: 4, 101, 21; v2: 4.5, 101.5, 21.5
    run_worker()
    prediction = Prediction.objects.get(pk=pk)
    for row, truth in ((0, 5.0), (2, 21.0)):
        feedback_create(prediction=prediction, row=row, value=truth, actor=alice)
    shared = staff_client.get(COMPARE, {"version": 2}).json()["quality_on_shared"]
    assert shared["count"] == 2
    # v1's errors -1 and 0; v2's -0.5 and 0.5.
    assert shared["against"]["mae"] == pytest.approx(0.5)
    assert shared["version"]["mae"] == pytest.approx(0.5)
    assert shared["against"]["rmse"] == pytest.approx((1 / 2) ** 0.5)
    assert shared["version"]["rmse"] == pytest.approx(0.5)


def test_staff_see_a_batchs_shadow_runs_chunk_by_chunk_in_the_admin(xy, alice_client, admin_client):
    shadow(xy, 2)
    submit_batch(alice_client, [3, 4, 5])
    run_worker()
    page = admin_client.get("/admin/predictions/shadowrun/")
    assert page.status_code == 200
    assert "2 rows" in page.content.decode()
    assert "1 row<" in page.content.decode()


def test_each_chunk_keeps_how_many_of_its_rows_agree_and_its_rows_are_scored_against_feedback(
    xy, alice, alice_client
):
    shadow(xy, 2)
    # v1 answers 101, 4, 201, 6, 8; v2 adds 0.5: within 1% of 101 and 201 only.
    pk = submit_batch(alice_client, [100, 3, 200, 5, 7])
    run_worker()
    runs = runs_of(pk)
    assert [(r.start, r.rows, r.agreements) for r in runs] == [(0, 2, 1), (2, 2, 1), (4, 1, 0)]
    assert {(r.primary_version, r.primary_status) for r in runs} == {(version(xy, 1), "succeeded")}
    assert [r.primary_ms for r in runs] == [pytest.approx(inference_seconds(pk) * 1000)] * 3
    feedback_create(prediction=Prediction.objects.get(pk=pk), row=3, value=7.0, actor=alice)
    [score] = ShadowFeedback.objects.all()
    assert (score.run_id, score.value_error, score.shadow_value_error) == (runs[1].pk, -1.0, -0.5)
