"""The prediction worker: a non-forking RQ worker, so loaded models stay in memory.

RQ's default worker forks a fresh process per job, which re-imports scikit-learn and reloads
the model every time. This one runs jobs in its own process, keeps
predictors in a bounded LRU cache (PREDICTOR_CACHE_SIZE), and runs the reconciler periodically
in a background thread (one worker at a time, via a Redis lock).

Liveness and hard timeouts: a watch thread refreshes this worker's liveness key in Redis (a
started job whose worker's key lapsed is re-enqueued by the reconciler), and ends a job that
outlives its timeout even when RQ's alarm cannot interrupt it (native code that does not return
to the interpreter): the job's predictions fail with `timeout` and the process replaces itself
with a fresh copy (exec, same pid, so `make run` and docker see no exit).

Shutdown: the first SIGTERM/SIGINT is a warm shutdown, as in RQ: the current job may finish,
then the worker exits. If it is still running WORKER_SHUTDOWN_GRACE_SECONDS later (or a second
signal comes), the job is interrupted and handed back: its prediction goes from `running` to
`pending` and is queued again, so a stopping worker never leaves a prediction `running`. A batch
keeps the chunks it finished and resumes after them.
"""

import logging
import os
import signal
import sys
import threading
import time

from django.conf import settings
from django.db import connections
from rq.worker import SimpleWorker, WorkerStatus

from predictions import execute, housekeeping, queue
from predictions.models import Prediction
from predictions.signals import housekeeping_done
from registry import runtimes, selectors

logger = logging.getLogger(__name__)

RECONCILE_LOCK = "mlservice:reconcile-lock"

# RQ's own timeout fires first when it can; the watchdog acts this long after it.
HARD_TIMEOUT_GRACE_SECONDS = 2.0
WATCH_TICK_SECONDS = 0.25


class HandBack(BaseException):
    """Raised in the job to interrupt it; a BaseException so model code's `except Exception`
    (and prediction_execute's) cannot swallow it."""


class PredictionWorker(SimpleWorker):
    _handing_back = False
    _grace_timer: threading.Timer | None = None
    # (job, monotonic deadline) while a job runs; read by the watch thread.
    _running: tuple | None = None
    _hard_timeouts = False
    # Imports the runtimes of the registry's formats, started when the queues are first empty.
    import_thread: threading.Thread | None = None

    def work(self, *args, **kwargs):
        stop = threading.Event()
        # A burst worker may run inside another program (tests, a one-off drain): it never
        # replaces its process, and RQ's own timeout is all it has.
        self._hard_timeouts = not kwargs.get("burst")
        queue.mark_worker_alive(self.connection, self.name)
        threading.Thread(target=self._watch, args=(stop,), name="watchdog", daemon=True).start()
        if not kwargs.get("burst"):
            threading.Thread(
                target=self._reconcile_loop, args=(stop,), name="reconciler", daemon=True
            ).start()
        try:
            return super().work(*args, **kwargs)
        finally:
            stop.set()
            queue.mark_worker_gone(self.connection, self.name)

    def dequeue_job_and_maintain_ttl(self, *args, **kwargs):
        # The runtimes are imported beside the jobs, the first time the queues are empty: a
        # worker started with work waiting does it first, and a job that comes during the
        # imports runs at once (one that needs a runtime not yet imported imports it itself).
        if self.import_thread is None and not any(q.count for q in self.queues):
            self.import_thread = threading.Thread(
                target=self._import_runtimes, name="import-runtimes", daemon=True
            )
            self.import_thread.start()
        return super().dequeue_job_and_maintain_ttl(*args, **kwargs)

    def _import_runtimes(self) -> None:
        """So that the first prediction of each format does not wait for its library."""
        try:
            failed = runtimes.import_runtimes(selectors.formats_in_use())
        except Exception:
            logger.exception("Could not list the formats to import; their jobs import them")
            return
        finally:
            connections.close_all()  # this thread's own
        if failed:
            logger.warning("Could not import the runtime of these formats: %s", failed)

    # --- Liveness and the hard timeout ------------------------------------------------------

    def _watch(self, stop: threading.Event) -> None:
        refresh_every = queue.WORKER_ALIVE_TTL_SECONDS / 3
        refreshed = time.monotonic()
        while not stop.wait(WATCH_TICK_SECONDS):
            try:
                if time.monotonic() - refreshed >= refresh_every:
                    queue.mark_worker_alive(self.connection, self.name)
                    refreshed = time.monotonic()
                running = self._running
                overdue = running is not None and time.monotonic() > running[1]
                if overdue and self._hard_timeouts:
                    self._abandon(running[0])
            except Exception:
                logger.exception("Worker watch failed; will try again")

    def _abandon(self, job) -> None:
        """The job outlived its hard deadline: fail its predictions with `timeout`, then
        replace this process, whose main thread is stuck in the model."""
        logger.error("Job %s outlived its %s s timeout; restarting the worker", job.id, job.timeout)
        ids = {*(job.args[:1] or []), *execute.claimed_by_this_process}
        try:
            execute.fail_timed_out(ids)
        finally:
            connections.close_all()
            queue.mark_worker_gone(self.connection, self.name)
            self.register_death()
            sys.stdout.flush()
            sys.stderr.flush()
            os.execv(sys.executable, sys.orig_argv)

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

    def execute_job(self, job, rq_queue):
        deadline = time.monotonic() + (job.timeout or 0) + HARD_TIMEOUT_GRACE_SECONDS
        self._running = (job, deadline) if job.timeout and job.timeout > 0 else None
        try:
            super().execute_job(job, rq_queue)
        except HandBack:
            pass  # raised outside the job itself; the row is handled below either way
        finally:
            self._running = None
            deferred, execute.deferred_by_this_job[:] = list(execute.deferred_by_this_job), []
            queue.enqueue_many(deferred, at_front=True)
            if self._grace_timer is not None:
                self._grace_timer.cancel()
            if self._handing_back:
                self._hand_back(job)

    def handle_job_failure(self, job, queue, *args, **kwargs):
        # A job interrupted by its timeout (or whose database connection was cut) may have left
        # its connection mid-query; the next job must not inherit it. RQ passes `queue` by name.
        connections.close_all()
        return super().handle_job_failure(job, queue, *args, **kwargs)

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
