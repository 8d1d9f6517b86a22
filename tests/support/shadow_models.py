"""Shadow versions that misbehave, pickled with joblib in rollout tests.

Like `hostile_models`, they answer their input example (x = 1) as x + y, so they pass upload
validation; on every other input they fail or sleep.
"""

import time

import numpy as np

from tests.support.hostile_models import XYRegressor


def _on_example(X) -> bool:
    return bool((np.asarray(X, dtype=float)[:, 0] == 1).all())


class RaisingRegressor(XYRegressor):
    def predict(self, X):
        if not _on_example(X):
            raise RuntimeError("this shadow always fails")
        return self._value(X)


class SleepingRegressor(XYRegressor):
    SECONDS = 3.0

    def predict(self, X):
        if not _on_example(X):
            time.sleep(self.SECONDS)
        return self._value(X)
