"""Workers that die, are stopped, or lose their queue: no prediction is lost or run twice."""

import signal
import time

import psycopg
import pytest
from django.db import connection
from rq import Worker

from predictions.models import Prediction, PredictionChunk, Status
from predictions.queue import get_queue, job_id_for
from tests.support import hostile_models
from tests.support.api import SETOSA, VIRGINICA, submit
from tests.support.factories import register_hostile
from tests.support.faults import FAST_RECOVERY, all_terminal, figure, log_of, statuses, wait_until
from tests.support.slow_models import PacedRegressor

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def submit_many(client, count: int) -> dict[str, str]:
    """Submit `count` single-row iris predictions; returns id -> the label they must get."""
    expected = {}
    for i in range(count):
        row, label = (SETOSA, "setosa") if i % 2 else (VIRGINICA, "virginica")
        response = submit(client, {"model": "iris", "input": row})
        assert response.status_code == 202, response.content
        expected[response.json()["id"]] = label
    return expected


def assert_each_succeeded_once(expected: dict[str, str], may_have_rerun=frozenset()):
    rows = Prediction.objects.filter(pk__in=expected).values_list(
        "pk", "status", "output", "attempts"
    )
    assert len(rows) == len(expected)
    for pk, status, output, attempts in rows:
        assert status == Status.SUCCEEDED, (pk, status)
        assert output["label"] == expected[str(pk)]
        # A prediction runs again only if a worker died while it was running.
        assert attempts == 1 or (str(pk) in may_have_rerun and attempts == 2), (pk, attempts)


@pytest.fixture
def slow_model(db, tmp_path):
    return register_hostile("paced", PacedRegressor, tmp_path, timeout_seconds=5)


def test_a_worker_killed_with_200_in_flight_loses_nothing(alice_client, slow_model, processes):
    expected = {}
    for i in range(200):  # y = i makes every output unique
        response = submit(alice_client, {"model": "paced", "input": {"x": 0.5, "y": i}})
        assert response.status_code == 202, response.content
        expected[response.json()["id"]] = 0.5 + i
    # Small cross-request batches (where supported), so the kill lands mid-run.
    recovery = {**FAST_RECOVERY, "PREDICTION_BATCH_MAX": 4}
    first = processes.worker(**recovery)
    wait_until(
        lambda: Prediction.objects.filter(status=Status.SUCCEEDED).count() >= 20,
        60,
        "the first worker never got going",
        0.02,
    )
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    at_kill = statuses(expected)
    running_at_kill = {str(pk) for pk in Prediction.objects.running().values_list("pk", flat=True)}
    assert at_kill.get(Status.PENDING, 0) > 0, f"nothing was left in flight: {at_kill}"

    second = processes.worker(**recovery)
    took = wait_until(all_terminal(expected), 120, "predictions were left unfinished", 0.2)
    assert second.poll() is None, log_of(second)
    rows = Prediction.objects.filter(pk__in=expected).values_list(
        "pk", "status", "output", "attempts"
    )
    assert len(rows) == 200
    for pk, status, output, attempts in rows:
        assert status == Status.SUCCEEDED, (pk, status)
        assert output == {"value": pytest.approx(expected[str(pk)])}
        # Run again only if the killed worker was running it: each completed exactly once.
        assert attempts == 1 or (str(pk) in running_at_kill and attempts == 2), (pk, attempts)
    figure("kill9_200_in_flight", f"{at_kill} at kill; all 200 succeeded {took:.1f} s later")


def test_a_flushed_queue_with_500_queued_is_rebuilt_by_the_reconciler(
    alice_client, fast_iris, processes, private_redis
):
    expected = submit_many(alice_client, 500)
    assert get_queue().count == 500
    private_redis.client().flushdb()
    assert get_queue().count == 0

    processes.worker(**FAST_RECOVERY)
    took = wait_until(all_terminal(expected), 180, "the reconciler did not finish the 500", 0.5)
    assert_each_succeeded_once(expected)
    figure("flushdb_500_queued", f"500/500 succeeded {took:.1f} s after the worker started")


@pytest.fixture
def slow_batch_model(db, tmp_path, settings):
    settings.PREDICTION_CHUNK_ROWS = 1  # batches are split into chunks when submitted
    # SleepyRegressor sleeps x - 4 seconds per chunk for x >= 5.
    return register_hostile("sleepy", hostile_models.SleepyRegressor, tmp_path, timeout_seconds=30)


def start_batch(client, rows: int, x: float) -> str:
    response = submit(client, {"model": "sleepy", "inputs": [{"x": x, "y": 1}] * rows})
    assert response.status_code == 202, response.content
    return response.json()["id"]


def wait_for_progress(prediction_id: str) -> None:
    wait_until(
        lambda: Prediction.objects.get(pk=prediction_id).progress > 0,
        60,
        "the worker never ran the first chunk",
        0.02,
    )


def test_sigterm_lets_the_running_batch_finish(alice_client, slow_batch_model, processes):
    prediction_id = start_batch(alice_client, rows=3, x=4.8)  # 3 chunks of 0.8 s
    worker = processes.worker(WORKER_SHUTDOWN_GRACE_SECONDS=20)
    wait_for_progress(prediction_id)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0, log_of(worker)
    prediction = Prediction.objects.get(pk=prediction_id)
    assert prediction.status == Status.SUCCEEDED and prediction.attempts == 1
    assert not Prediction.objects.running().exists()


def test_sigterm_hands_a_long_batch_back_and_another_worker_finishes_it(
    alice_client, slow_batch_model, processes
):
    prediction_id = start_batch(alice_client, rows=6, x=5.2)  # 6 chunks of 1.2 s
    worker = processes.worker(WORKER_SHUTDOWN_GRACE_SECONDS=1)
    wait_for_progress(prediction_id)
    worker.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert worker.wait(30) == 0, log_of(worker)
    stopped_in = time.monotonic() - started

    prediction = Prediction.objects.get(pk=prediction_id)
    assert prediction.status == Status.PENDING, log_of(worker)
    assert not Prediction.objects.running().exists()
    done_chunks = PredictionChunk.objects.filter(
        prediction_id=prediction_id, output_matrix__isnull=False
    ).count()
    assert 1 <= done_chunks < 6
    assert get_queue().count == 1  # handed back: queued again, not left for the reconciler

    second = processes.worker(burst=True)
    assert second.wait(60) == 0, log_of(second)
    prediction.refresh_from_db()
    assert prediction.status == Status.SUCCEEDED and prediction.attempts == 2
    document = alice_client.get(f"/api/v1/predictions/{prediction_id}/").json()
    assert document["output"] == [{"value": 6.2}] * 6
    figure("sigterm_hand_back", f"worker exited {stopped_in:.1f} s after SIGTERM (grace 1 s)")


def test_sigterm_hands_back_every_single_row_a_batched_job_claimed(
    alice_client, slow_batch_model, processes
):
    ids = [
        submit(alice_client, {"model": "sleepy", "input": {"x": 9, "y": i}}).json()["id"]
        for i in range(3)
    ]
    worker = processes.worker(WORKER_SHUTDOWN_GRACE_SECONDS=1)
    # One job claims all three rows and runs them in one 5 s predict call.
    wait_until(
        lambda: Prediction.objects.filter(pk__in=ids, status=Status.RUNNING).count() == 3,
        60,
        "the worker never claimed the three rows together",
        0.02,
    )
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0, log_of(worker)
    assert set(Prediction.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        Status.PENDING
    }
    assert get_queue().count == 3  # all handed back now, not after their lease runs out
    second = processes.worker(burst=True)
    assert second.wait(60) == 0, log_of(second)
    assert [Prediction.objects.get(pk=i).output for i in ids] == [
        {"value": 9.0},
        {"value": 10.0},
        {"value": 11.0},
    ]


def test_sigterm_while_idle_exits_at_once(processes, db):
    worker = processes.worker()
    # Idle, not just registered: RQ registers the worker before it installs its signal
    # handlers, and a SIGTERM in between ends it by the signal's default action.
    wait_until(
        lambda: [w.get_state() for w in Worker.all(queue=get_queue())] == ["idle"],
        60,
        "the worker never became idle",
        0.05,
    )
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(15) == 0, log_of(worker)


def test_a_subprocess_worker_fails_a_model_that_swallows_its_timeout(
    alice_client, processes, tmp_path
):
    register_hostile("stubborn", hostile_models.StubbornRegressor, tmp_path, timeout_seconds=1)
    response = submit(alice_client, {"model": "stubborn", "input": {"x": 7, "y": 0}})
    prediction_id = response.json()["id"]
    worker = processes.worker(burst=True)
    started = time.monotonic()
    assert worker.wait(60) == 0, log_of(worker)
    prediction = Prediction.objects.get(pk=prediction_id)
    assert prediction.status == Status.FAILED, log_of(worker)
    assert prediction.error["code"] == "timeout"
    assert prediction.output is None
    figure("stubborn_timeout_subprocess", f"failed/timeout, worker done in "
           f"{time.monotonic() - started:.1f} s (model would run 3 s)")  # fmt: skip


def database_dsn() -> dict:
    settings = connection.settings_dict
    return {"dbname": settings["NAME"], "host": settings["HOST"], "port": settings["PORT"],
            "user": settings["USER"], "password": settings["PASSWORD"]}  # fmt: skip


def claim_is_waiting() -> bool:
    """Whether a session waits for a row lock (the worker's claim on the held row). Asked on
    a connection of its own: pg_stat_activity is a snapshot per transaction."""
    with psycopg.connect(**database_dsn(), autocommit=True) as observer:
        [waiting] = observer.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        ).fetchone()
    return waiting > 0


def test_a_worker_killed_between_taking_a_job_and_claiming_it_strands_nothing(
    alice_client, fast_iris, processes, private_redis
):
    response = submit(alice_client, {"model": "iris", "inputs": [SETOSA, VIRGINICA]})
    prediction_id = response.json()["id"]
    job_key = f"rq:job:{job_id_for(prediction_id)}"
    redis_client = private_redis.client()
    # Hold the row, so the worker stops right before its claim (an UPDATE) reaches the row.
    with psycopg.connect(**database_dsn(), autocommit=False) as holder:
        holder.execute("SELECT id FROM predictions_prediction WHERE id = %s FOR UPDATE",
                       [prediction_id])  # fmt: skip
        first = processes.worker(**FAST_RECOVERY)
        wait_until(claim_is_waiting, 60, "the worker never tried to claim", 0.05)
        assert redis_client.hget(job_key, "status") == b"started"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        # The dead worker's statement dies with it, before it changed the row.
        holder.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        holder.rollback()
    assert Prediction.objects.get(pk=prediction_id).status == Status.PENDING
    assert redis_client.hget(job_key, "status") == b"started"

    second = processes.worker(**FAST_RECOVERY)
    took = wait_until(all_terminal([prediction_id]), 60, "the prediction stayed stranded", 0.2)
    prediction = Prediction.objects.get(pk=prediction_id)
    assert prediction.status == Status.SUCCEEDED, log_of(second)
    document = alice_client.get(f"/api/v1/predictions/{prediction_id}/").json()
    assert [o["label"] for o in document["output"]] == ["setosa", "virginica"]
    figure("kill9_before_claim", f"pending with a started job; succeeded {took:.1f} s after a "
           "new worker started")  # fmt: skip
