"""Forecasters: predictors of the forecast task, which answer each request (a horizon, and for a
lag model the recent history; see `registry.forecasts`) with one item per step.

An answer is `{"forecast": [{"step": 1, "timestamp"?: "2025-04-01", "value": v, "lower"?: l,
"upper"?: u}, ...]}`: the timestamp when the steps have dates, lower and upper when the model
gives an interval. `LagForecaster` runs any regressor of the registry step by step; Prophet has
its own format module. No Django here.
"""

from collections.abc import Sequence

import numpy as np

from registry import forecasts
from registry.runtimes.base import FORECAST, REGRESSION, ArtifactError, Predictor


class Forecaster(Predictor):
    """A predictor of forecast requests (already validated and projected)."""

    def __init__(self, *, spec: dict) -> None:
        super().__init__(task=FORECAST, input_schema=spec, labels=None, classes=None)
        self.spec = spec

    def predict(self, rows: Sequence[dict]) -> list[dict]:
        return self.forecast(list(rows))

    def predict_matrix(self, matrix: Sequence[dict]) -> list[dict]:
        """A forecast batch is stored as its list of requests, not a matrix: the answers."""
        return self.forecast(list(matrix))

    def forecast(self, requests: list[dict]) -> list[dict]:
        raise NotImplementedError


def answer(
    values: np.ndarray,
    *,
    timestamps: Sequence | None = None,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
) -> dict:
    """One forecast's JSON-ready answer. Non-finite numbers fail the prediction (they are not
    JSON); they are never left out or replaced."""
    lists = {}
    for name, column in (("value", values), ("lower", lower), ("upper", upper)):
        if column is None:
            continue
        array = np.asarray(column, dtype=np.float64)
        if not np.isfinite(array).all():
            raise ValueError(f"the model forecast a non-finite {name}")
        lists[name] = array.tolist()
    stamps = format_timestamps(timestamps) if timestamps is not None else None
    steps = []
    for index in range(len(values)):
        item: dict = {"step": index + 1}
        if stamps is not None:
            item["timestamp"] = stamps[index]
        item.update((name, column[index]) for name, column in lists.items())
        steps.append(item)
    return {"forecast": steps}


def format_timestamps(stamps) -> list[str]:
    """ISO 8601: dates alone when every step falls at midnight (daily or coarser series)."""
    import pandas as pd

    index = pd.DatetimeIndex(stamps)
    if (index == index.normalize()).all():
        return [stamp.date().isoformat() for stamp in index]
    return [stamp.isoformat() for stamp in index]


def future_dates(last, periods: int, frequency: str):
    """The `periods` dates after `last`, as Prophet's `make_future_dataframe` makes them."""
    import pandas as pd

    dates = pd.date_range(start=last, periods=periods + 1, freq=frequency)
    return dates[dates > last][:periods]


def check_answer(output: dict, horizon: int) -> None:
    """An answer has one finite value per step: what an example forecast must give."""
    steps = output.get("forecast") if isinstance(output, dict) else None
    if not isinstance(steps, list) or len(steps) != horizon:
        raise ArtifactError(
            f"the example forecast gave {len(steps) if isinstance(steps, list) else 'no'} steps "
            f"where {horizon} were asked for",
            code="example_failed",
        )


class LagForecaster(Forecaster):
    """A regressor run recursively: each step predicts from the last values of the series
    (the request's history, then its own forecasts), the step's calendar features and the
    step's regressor values, in the order of `forecasts.model_features`."""

    def __init__(self, regressor: Predictor, *, spec: dict) -> None:
        if regressor.task != REGRESSION:
            raise ValueError("a lag forecaster runs a regressor")
        super().__init__(spec=spec)
        self.regressor = regressor
        self.runtime = f"{regressor.runtime} (lags)"
        self.regressor_names = [feature["name"] for feature in forecasts.regressors(spec)]

    def forecast(self, requests: list[dict]) -> list[dict]:
        """All requests advance a step together: one regressor call per step for the batch."""
        horizons = [request[forecasts.HORIZON] for request in requests]
        series = [list(map(float, request[forecasts.HISTORY])) for request in requests]
        dates = [self._dates(request) for request in requests]
        for step in range(max(horizons, default=0)):
            active = [i for i, horizon in enumerate(horizons) if horizon > step]
            matrix = np.array(
                [self._features(requests[i], series[i], dates[i], step) for i in active],
                dtype=np.float64,
            )
            values = self.regressor.predict_matrix(matrix)[:, 0]
            for i, value in zip(active, values.tolist(), strict=True):
                series[i].append(value)
        return [
            answer(np.array(series[i][len(series[i]) - horizons[i] :]), timestamps=dates[i])
            for i in range(len(requests))
        ]

    def _dates(self, request: dict):
        end = request.get(forecasts.HISTORY_END)
        if end is None:
            return None
        last = forecasts.parse_timestamp(end)
        return future_dates(last, request[forecasts.HORIZON], self.spec["frequency"])

    def _features(self, request: dict, series: list[float], dates, step: int) -> list[float]:
        date = dates[step] if dates is not None else None
        values = [request[name][step] for name in self.regressor_names]
        return lag_features(self.spec, series, date, values)


def lag_features(spec: dict, past: Sequence[float], date, regressor_values: Sequence) -> list:
    """The regressor's input for the step after `past` (the series so far, oldest first): its
    lags, the calendar features of the step's `date`, then the step's regressor values. Training
    a lag model means building these rows, so `registry.demo` builds them here too."""
    row = [float(past[-lag]) for lag in spec["lags"]]
    row += [getattr(date, forecasts.CALENDAR[name][0]) for name in spec.get("calendar", [])]
    row += [float(value) for value in regressor_values]
    return row
