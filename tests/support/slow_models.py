"""Real scikit-learn-style regressors that are slow on purpose: a steady 30 ms per predict
call, so a worker can be killed while it is busy, and one RQ's timeout cannot interrupt.
Pickled with joblib by the tests; they return x + y."""

import signal
import time

import numpy as np

from tests.support.hostile_models import XYRegressor


class PacedRegressor(XYRegressor):
    def predict(self, X):
        time.sleep(0.03)
        return self._value(X)


class NativeSleeper(XYRegressor):
    """Sleeps x - 4 seconds for x >= 5 the way native code (a C library's loop) does: signals
    are held until it returns, so RQ's alarm cannot interrupt it. Returns x + y."""

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        if (X[:, 0] >= 5).any():
            held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            try:
                time.sleep(float(X[:, 0].max()) - 4)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
        return self._value(X)
