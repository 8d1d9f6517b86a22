"""Real (if badly behaved) scikit-learn-style regressors, pickled with joblib in tests.

They behave on their input example, so they pass upload validation, and misbehave on the
inputs the tests send: x > 100 raises, x >= 5 sleeps.
"""

import contextlib
import time

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin


class XYRegressor(RegressorMixin, BaseEstimator):
    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def _value(self, X):
        return np.asarray(X, dtype=float).sum(axis=1)


class ExplodingRegressor(XYRegressor):
    def predict(self, X):
        if (np.asarray(X)[:, 0] > 100).any():
            raise RuntimeError("boom: x is too large for this model")
        return self._value(X)


class SleepyRegressor(XYRegressor):
    def predict(self, X):
        X = np.asarray(X, dtype=float)
        if (X[:, 0] >= 5).any():
            time.sleep(float(X[:, 0].max()) - 4)
        return self._value(X)


class StubbornRegressor(XYRegressor):
    """Swallows every exception while it sleeps, RQ's timeout included."""

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        if (X[:, 0] >= 5).any():
            deadline = time.monotonic() + float(X[:, 0].max()) - 4
            while time.monotonic() < deadline:
                with contextlib.suppress(BaseException):  # the point of this model
                    time.sleep(0.05)
        return self._value(X)


class SlowToLoadRegressor(XYRegressor):
    """Takes LOAD_SECONDS to unpickle (a big model's cold start), then predicts at once."""

    LOAD_SECONDS = 0.6

    def __setstate__(self, state):
        time.sleep(self.LOAD_SECONDS)
        super().__setstate__(state)

    def predict(self, X):
        return self._value(X)
