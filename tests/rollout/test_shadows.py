from decimal import Decimal

import pytest

from billing.services import account_for
from predictions.models import Prediction, ShadowRun, Status
from registry import services as registry_services
from tests.support.api import labels, scrape
from tests.support.rollout import shadow, version
from tests.support.workers import run_worker, worker_subprocess

pytestmark = pytest.mark.django_db(transaction=True)


def submit_rows(client, xs, **body):
    ids = []
    for x in xs:
        response = client.post(
            "/api/v1/predictions/",
            {"model": "xy", "input": {"x": x, "y": 1}, **body},
            format="json",
        )
        assert response.status_code == 202, response.content
        ids.append(response.json()["id"])
    return ids


def answers(client, ids):
    return [client.get(f"/api/v1/predictions/{pk}/").json() for pk in ids]


def inference_seconds(ids):
    return [
        (p.finished_at - p.started_at).total_seconds()
        for p in Prediction.objects.filter(pk__in=ids)
    ]


def test_a_shadow_runs_every_prediction_served_through_the_alias_and_stores_its_answer(
    xy, alice_client
):
    shadow(xy, 2)
    ids = submit_rows(alice_client, [3, 20])
    run_worker()
    runs = {str(r.prediction_id): r for r in ShadowRun.objects.filter(version__number=2)}
    assert set(runs) == set(ids)
    assert [runs[pk].status for pk in ids] == ["succeeded", "succeeded"]
    assert [runs[pk].output for pk in ids] == [{"value": 4.5}, {"value": 21.5}]
    assert all(runs[pk].duration_ms >= 0 for pk in ids)


def test_each_run_keeps_the_primarys_version_status_latency_and_agreement(xy, alice_client):
    shadow(xy, 2)
    # v1 answers x + 1, v2 x + 1.5: within 1% of 100, not of 4.
    near, far = submit_rows(alice_client, [99, 3])
    run_worker()
    runs = {str(r.prediction_id): r for r in ShadowRun.objects.all()}
    assert (runs[near].agreements, runs[far].agreements) == (1, 0)
    for pk in (near, far):
        [seconds] = inference_seconds([pk])
        assert (runs[pk].primary_version, runs[pk].primary_status) == (version(xy, 1), "succeeded")
        assert runs[pk].primary_ms == pytest.approx(seconds * 1000)


def test_the_shadow_answer_is_never_in_the_users_answer_nor_charged(xy, alice, alice_client):
    registry_services.version_set_price(version=version(xy, 1), price_per_row=Decimal(2))
    balance = account_for(alice).available
    shadow(xy, 2)
    [pk] = submit_rows(alice_client, [20])
    run_worker()
    answer = alice_client.get(f"/api/v1/predictions/{pk}/").json()
    assert answer["output"] == {"value": 21.0}  # the primary's, not the shadow's 21.5
    assert answer["version"] == 1
    assert "shadow" not in str(answer)
    listed = alice_client.get("/api/v1/predictions/").json()["results"][0]
    assert "shadow" not in str(listed)
    # Charged the primary's price once; the shadow costs nothing.
    account = account_for(alice)
    assert (account.available, account.reserved) == (balance - Decimal(2), 0)
    assert ShadowRun.objects.get(prediction_id=pk).output == {"value": 21.5}


def test_a_shadow_that_raises_never_changes_the_primarys_answer(xy, raising, alice_client):
    baseline = submit_rows(alice_client, [3, 4, 5])
    run_worker()
    shadow(xy, 3)
    shadowed = submit_rows(alice_client, [3, 4, 5])
    run_worker()
    before, after = answers(alice_client, baseline), answers(alice_client, shadowed)
    assert [a["status"] for a in after] == ["succeeded"] * 3
    assert [a["output"] for a in after] == [b["output"] for b in before]
    assert [a["error"] for a in after] == [None] * 3
    runs = ShadowRun.objects.filter(prediction_id__in=shadowed)
    assert {r.status for r in runs} == {"failed"}
    assert {r.error["code"] for r in runs} == {"model_error"}
    assert "this shadow always fails" in runs[0].error["message"]


def test_a_shadow_that_sleeps_never_slows_the_primary_and_is_cut_at_its_timeout(
    xy, sleeping, alice_client, settings
):
    settings.ROLLOUT_SHADOW_TIMEOUT_SECONDS = 1
    baseline = submit_rows(alice_client, [3, 4])
    run_worker()
    shadow(xy, 3)  # sleeps 3 s
    shadowed = submit_rows(alice_client, [3, 4])
    run_worker()
    assert [a["output"] for a in answers(alice_client, shadowed)] == [
        a["output"] for a in answers(alice_client, baseline)
    ]
    # The primary's own time is the same with or without the shadow (well under its 1 s cut).
    assert max(inference_seconds(shadowed)) < 0.5
    assert max(inference_seconds(shadowed)) < max(inference_seconds(baseline)) + 0.3
    runs = list(ShadowRun.objects.filter(prediction_id__in=shadowed))
    assert [r.error["code"] for r in runs] == ["timeout", "timeout"]
    # The primary was finished and stored before the shadow started its second of sleep.
    finished = max(p.finished_at for p in Prediction.objects.filter(pk__in=shadowed))
    assert min(r.created_at for r in runs) >= finished
    assert (min(r.created_at for r in runs) - finished).total_seconds() >= 0.9


def test_shadows_are_skipped_and_counted_when_the_queue_is_behind(
    xy, alice_client, settings, client
):
    settings.ROLLOUT_SHADOW_SKIP_BEHIND_SECONDS = 0
    shadow(xy, 2)
    ids = submit_rows(alice_client, [3, 4])
    # Another prediction of another version waits: the queue is behind.
    [waiting] = submit_rows(alice_client, [5], version="2")
    Prediction.objects.filter(pk=waiting).update(created_at="2020-01-01T00:00:00Z")
    run_worker()
    runs = ShadowRun.objects.filter(prediction_id__in=ids)
    assert [(r.status, r.error["code"]) for r in runs] == [("skipped", "queue_behind")] * 2
    assert Prediction.objects.filter(pk__in=ids, status=Status.SUCCEEDED).count() == 2
    shadow_runs = scrape(client)["mlservice_shadow_runs"]
    assert shadow_runs[labels(model="xy", version="2", status="skipped")] == 2


def test_explicit_versions_and_the_shadow_version_itself_are_not_shadowed(xy, alice_client):
    shadow(xy, 2)
    explicit = submit_rows(alice_client, [3], version="1")
    itself = submit_rows(alice_client, [3], version="2")
    run_worker()
    assert not ShadowRun.objects.filter(prediction_id__in=explicit + itself).exists()


def test_a_removed_shadow_stops_running(xy, alice_client):
    shadow(xy, 2)
    registry_services.alias_shadow_remove(model=xy, alias="production", version=version(xy, 2))
    submit_rows(alice_client, [3])
    run_worker()
    assert not ShadowRun.objects.exists()


def test_the_user_has_the_answer_while_a_slow_shadow_is_still_running(
    xy, sleeping, alice_client, media_root
):
    """A real worker process: the waiting request answers before the shadow (3 s) is done."""
    shadow(xy, 3)
    [pk] = submit_rows(alice_client, [3])
    worker = worker_subprocess(media_root)
    try:
        answer = alice_client.get(f"/api/v1/predictions/{pk}/", {"wait": 30}).json()
        shadow_runs_then = ShadowRun.objects.filter(prediction_id=pk).count()
        output, _ = worker.communicate(timeout=120)
    finally:
        worker.kill()
    assert (answer["status"], answer["output"]) == ("succeeded", {"value": 4.0})
    assert shadow_runs_then == 0, output[-2000:]
    run = ShadowRun.objects.get(prediction_id=pk)
    assert (run.status, run.output) == ("succeeded", {"value": 4.0})
    assert run.duration_ms >= 3000
