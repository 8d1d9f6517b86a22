"""Real scikit-learn-style regressors for rollout tests, pickled with joblib.

Each answers its input example ({"x": 1, "y": 2}) like the others, so it passes upload
validation; on other inputs they differ as their names say.
"""

import time

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin


class SumRegressor(RegressorMixin, BaseEstimator):
    """x + y."""

    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict(self, X):
        return np.asarray(X, dtype=float).sum(axis=1)

    def _on_example(self, X) -> bool:
        return bool((np.asarray(X, dtype=float)[:, 0] == 1).all())


class OffByOneAboveTen(SumRegressor):
    """x + y, plus 1 where x > 10: it disagrees with SumRegressor on those rows only."""

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        return X.sum(axis=1) + (X[:, 0] > 10)


class RaisingRegressor(SumRegressor):
    def predict(self, X):
        if not self._on_example(X):
            raise RuntimeError("this shadow always fails")
        return super().predict(X)


class SleepingRegressor(SumRegressor):
    SECONDS = 3.0

    def predict(self, X):
        if not self._on_example(X):
            time.sleep(self.SECONDS)
        return super().predict(X)
