"""A real scikit-learn-style regressor that takes a steady 30 ms per predict call, so a worker
can be killed while it is busy. Pickled with joblib by the tests; returns x + y."""

import time

from tests.predictions.hostile_models import _Base


class PacedRegressor(_Base):
    def predict(self, X):
        time.sleep(0.03)
        return self._value(X)
