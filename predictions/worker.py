"""The prediction worker: a non-forking RQ worker, so loaded models stay in memory.

RQ's default worker forks a fresh process per job, which re-imports scikit-learn and reloads
the model every time (under 1 prediction/s here). This one runs jobs in its own process, keeps
predictors in a bounded LRU cache (PREDICTOR_CACHE_SIZE), and runs the reconciler periodically
in a background thread (one worker at a time, via a Redis lock).
"""

import logging
import threading

from django.conf import settings
from django.db import connections
from rq.worker import SimpleWorker

logger = logging.getLogger(__name__)

RECONCILE_LOCK = "mlservice:reconcile-lock"


class PredictionWorker(SimpleWorker):
    def work(self, *args, **kwargs):
        # Import the heavy runtimes once, before the first job, not during it.
        import onnxruntime  # noqa: F401
        import sklearn  # noqa: F401

        from registry import runtimes  # noqa: F401

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
                    from predictions.services import reconcile

                    counts = reconcile()
                    if any(counts.values()):
                        logger.warning("Reconciler repaired predictions: %s", counts)
            except Exception:
                logger.exception("Periodic reconcile failed; will try again")
            finally:
                connections.close_all()
