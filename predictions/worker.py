"""The prediction worker: a non-forking RQ worker, so loaded models stay in memory.

RQ's default worker forks a fresh process per job, which re-imports scikit-learn and reloads
the model every time. This one runs jobs in its own process, keeps
predictors in a bounded LRU cache (PREDICTOR_CACHE_SIZE), and runs the reconciler periodically
in a background thread (one worker at a time, via a Redis lock).

Shutdown: the first SIGTERM/SIGINT is a warm shutdown, as in RQ: the current job may finish,
then the worker exits. If it is still running WORKER_SHUTDOWN_GRACE_SECONDS later (or a second
signal comes), the job is interrupted and handed back: its prediction goes from `running` to
`pending` and is queued again, so a stopping worker never leaves a prediction `running`. A batch
keeps the chunks it finished and resumes after them.
"""

import logging
import os
import signal
import threading

from django.conf import settings
from django.db import connections
from rq.worker import SimpleWorker, WorkerStatus

from predictions import execute, housekeeping, queue
from predictions.models import Prediction
from predictions.signals import housekeeping_done

logger = logging.getLogger(__name__)

RECONCILE_LOCK = "mlservice:reconcile-lock"


class HandBack(BaseException):
    """Raised in the job to interrupt it; a BaseException so model code's `except Exception`
    (and prediction_execute's) cannot swallow it."""


class PredictionWorker(SimpleWorker):
    _handing_back = False
    _grace_timer: threading.Timer | None = None

    def work(self, *args, **kwargs):
        # Import the heavy runtimes once, before the first job, not during it.
        import onnxruntime  # noqa: F401
        import sklearn  # noqa: F401

        stop = threading.Event()
        if not kwargs.get("burst"):
            threading.Thread(
                target=self._reconcile_loop, args=(stop,), name="reconciler", daemon=True
            ).start()
        try:
            return super().work(*args, **kwargs)
        finally:
            stop.set()

    def _reconcile_loop(self, stop: threading.Event) -> None:
        interval = settings.RECONCILE_INTERVAL_SECONDS
        while not stop.wait(interval):
            try:
                if self.connection.set(RECONCILE_LOCK, self.name, nx=True, ex=interval):
                    counts = housekeeping.reconcile()
                    if any(counts.values()):
                        logger.warning("Reconciler repaired predictions: %s", counts)
                    housekeeping_done.send(PredictionWorker)
            except Exception:
                logger.exception("Periodic reconcile failed; will try again")
            finally:
                connections.close_all()

    # --- Shutdown ---------------------------------------------------------------------------

    def request_stop(self, signum, frame):
        busy = self.get_state() == WorkerStatus.BUSY
        super().request_stop(signum, frame)  # raises StopRequested when idle
        if busy and self._grace_timer is None:
            grace = settings.WORKER_SHUTDOWN_GRACE_SECONDS
            logger.warning("Warm shutdown: the current job has %s s to finish", grace)
            # The timer thread cannot interrupt the main thread itself; a signal can.
            self._grace_timer = threading.Timer(grace, os.kill, (os.getpid(), signal.SIGTERM))
            self._grace_timer.daemon = True
            self._grace_timer.start()

    def request_force_stop(self, signum, frame):
        """Second signal, or the grace period is over: hand the current job back."""
        if self.get_state() != WorkerStatus.BUSY or self._handing_back:
            return  # between jobs the warm shutdown is already under way
        self._handing_back = True
        logger.warning("Interrupting the current job to hand it back")
        raise HandBack()

    def execute_job(self, job, queue):
        try:
            super().execute_job(job, queue)
        except HandBack:
            pass  # raised outside the job itself; the row is handled below either way
        finally:
            if self._grace_timer is not None:
                self._grace_timer.cancel()
            if self._handing_back:
                self._hand_back(job)

    def _hand_back(self, job) -> None:
        # The interrupted job may have left its database connection mid-query.
        connections.close_all()
        # The job's own prediction, plus the single rows it claimed alongside (batching).
        ids = {*(job.args[:1] or []), *execute.claimed_by_this_process}
        execute.claimed_by_this_process.clear()
        handed_back = Prediction.objects.hand_back(ids)
        queue.enqueue_many([(p.pk, p.version.timeout_seconds) for p in handed_back])
        for prediction in handed_back:
            logger.warning("Handed prediction %s back to the queue", prediction.pk)
        connections.close_all()
