"""A model that outlives its timeout in native code fails with `timeout` on time, and its
worker is replaced, so other users' predictions do not wait behind it."""

import time

import pytest

from predictions.models import Prediction, Status
from tests.support.api import SETOSA, client_for, submit
from tests.support.factories import UserFactory, register_hostile
from tests.support.faults import FAST_RECOVERY, all_terminal, figure, log_of, wait_until
from tests.support.slow_models import NativeSleeper

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def is_terminal(prediction_id: str):
    return lambda: Prediction.objects.get(pk=prediction_id).status not in (
        Status.PENDING,
        Status.RUNNING,
    )


def test_a_native_model_past_its_timeout_fails_and_the_next_user_is_served(
    alice_client, iris, processes, tmp_path
):
    register_hostile("native", NativeSleeper, tmp_path, timeout_seconds=3)
    slow = submit(alice_client, {"model": "native", "input": {"x": 34, "y": 0}})  # 30 s
    bob_client = client_for(UserFactory(username="bob"))
    fast = submit(bob_client, {"model": "iris", "input": SETOSA})
    worker = processes.worker(**FAST_RECOVERY)
    wait_until(
        lambda: Prediction.objects.get(pk=slow.json()["id"]).status == Status.RUNNING,
        60,
        "the worker never started the slow model",
        0.05,
    )
    started = time.monotonic()

    wait_until(is_terminal(slow.json()["id"]), 10, "the slow model was not stopped", 0.05)
    failed_in = time.monotonic() - started
    served_in = wait_until(is_terminal(fast.json()["id"]), 40, "bob waited", 0.1)

    slow_row = Prediction.objects.get(pk=slow.json()["id"])
    assert slow_row.status == Status.FAILED and slow_row.error["code"] == "timeout"
    fast_row = Prediction.objects.get(pk=fast.json()["id"])
    assert fast_row.status == Status.SUCCEEDED, log_of(worker)
    assert fast_row.output["label"] == "setosa"
    assert worker.poll() is None, log_of(worker)  # the same process, replaced in place
    figure(
        "native_timeout",
        f"3 s timeout, 30 s native call: failed/timeout {failed_in:.1f} s after it started; "
        f"the next user's iris prediction done {served_in:.1f} s later",
    )


def test_one_users_backlog_on_a_slow_model_does_not_hold_anothers_fast_predictions(
    alice_client, fast_iris, processes, tmp_path
):
    register_hostile("native", NativeSleeper, tmp_path, timeout_seconds=30)
    flood = [  # 30 predictions of 1 s each, run one per job
        submit(alice_client, {"model": "native", "input": {"x": 5, "y": i}}).json()["id"]
        for i in range(30)
    ]
    bob_client = client_for(UserFactory(username="bob"))
    fast = [submit(bob_client, {"model": "iris", "input": SETOSA}).json()["id"] for _ in range(3)]
    processes.worker(**FAST_RECOVERY, PREDICTION_BATCH_MAX=1)
    wait_until(
        lambda: Prediction.objects.filter(pk__in=flood, status=Status.SUCCEEDED).exists(),
        60,
        "the worker never served the slow model",
        0.05,
    )
    served_in = wait_until(all_terminal(fast), 10, "bob's predictions waited for alice's", 0.1)

    assert set(Prediction.objects.filter(pk__in=fast).values_list("status", flat=True)) == {
        Status.SUCCEEDED
    }
    slow_done = Prediction.objects.filter(pk__in=flood, status=Status.SUCCEEDED).count()
    assert slow_done < 15  # bob did not wait for the backlog to drain
    figure(
        "fairness",
        f"30 queued 1 s predictions ahead; the other user's 3 done {served_in:.1f} s after the "
        f"first slow one ({slow_done} of 30 slow ones done by then)",
    )
