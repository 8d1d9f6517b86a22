"""Prophet: a fitted model as Prophet's own JSON (`prophet.serialize.model_to_json`).

Loading is `json.loads` and pandas reading the frames inside, never a pickle, so no code runs.
What a hostile file can still do is make predicting endless or huge (a seasonality of a billion
Fourier terms, a holiday window of a billion days) or fail deep inside pandas; so the document
is checked here first: known keys, types, finite numbers, sizes within bounds, parameter shapes
that agree. Growth must be linear or flat (logistic growth needs a capacity per step, which the
request does not carry) and seasonalities unconditional.
"""

import json
import logging
import math
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from registry import forecasts
from registry.runtimes.base import FORECAST, ArtifactError
from registry.runtimes.forecasters import Forecaster, answer, future_dates

MAGIC = (b"{",)
_COUNTRY = re.compile(r"[A-Z]{2,3}")  # an ISO code, as the holidays package names countries
_MODES = ("additive", "multiplicative")
_MAX_SEASONALITIES = 20
_MAX_FOURIER_ORDER = 100
_MAX_CHANGEPOINTS = 1000
_MAX_SAMPLES = 10_000
_MAX_WINDOW = 366  # days a holiday's effect may reach before or after it
_MAX_HOLIDAYS = 10_000
_PARAMS = ("k", "m", "delta", "sigma_obs", "beta")
_KEYS = frozenset(
    {
        *("growth", "n_changepoints", "specified_changepoints", "changepoint_range"),
        *("yearly_seasonality", "weekly_seasonality", "daily_seasonality"),
        *("seasonality_mode", "seasonality_prior_scale", "changepoint_prior_scale"),
        *("holidays_prior_scale", "mcmc_samples", "interval_width", "uncertainty_samples"),
        *("y_scale", "y_min", "scaling", "logistic_floor", "country_holidays"),
        *("component_modes", "holidays_mode", "changepoints", "history_dates"),
        *("train_holiday_names", "start", "t_scale", "holidays", "history"),
        *("train_component_cols", "changepoints_t", "seasonalities", "extra_regressors"),
        *("fit_kwargs", "params", "__prophet_version"),
    }
)
SEED = 0  # of the uncertainty samples: the same request gets the same interval

# Prophet draws its uncertainty samples from numpy's global generator: seeding it and predicting
# must not interleave with another thread doing the same.
_SAMPLING = threading.Lock()


def refuse(message: str) -> ArtifactError:
    return ArtifactError(message, code="invalid_model")


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_document(data: bytes) -> dict | None:
    """The JSON object of the file; None if it is not strict JSON (NaN and Infinity are not)."""
    try:
        document = json.loads(data, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def sniff(path: Path) -> bool:
    document = parse_document(Path(path).read_bytes())
    return (
        document is not None
        and isinstance(document.get("__prophet_version"), str)
        and isinstance(document.get("params"), dict)
    )


# --- The document's checks ---------------------------------------------------------------------


def check_document(document: dict, spec: dict) -> None:
    """Everything predicting relies on, before Prophet sees the document."""
    missing = sorted(_KEYS - set(document))
    unknown = sorted(set(document) - _KEYS)
    if missing or unknown:
        raise refuse(
            "the file is not a Prophet model saved by model_to_json "
            f"(missing {missing[:5]}, unknown {unknown[:5]})"
        )
    if document["growth"] not in ("linear", "flat"):
        raise refuse(
            f"growth {str(document['growth'])[:20]!r} is not served; linear and flat growth are "
            "(logistic growth needs a capacity for every step)"
        )
    for key in ("seasonality_mode", "holidays_mode"):
        _check(document[key] in _MODES, f"{key} must be additive or multiplicative")
    _check(document["scaling"] in ("absmax", "minmax"), "scaling must be absmax or minmax")
    _check(_number(document["interval_width"], 0, 1), "interval_width must be between 0 and 1")
    samples = document["uncertainty_samples"]
    _check(
        _whole(samples, 0, _MAX_SAMPLES),
        f"uncertainty_samples must be a whole number from 0 to {_MAX_SAMPLES:,}",
    )
    _check(_whole(document["mcmc_samples"], 0, 10**6), "mcmc_samples must be a whole number")
    for key in ("y_scale", "t_scale"):
        _check(_number(document[key], 0, math.inf), f"{key} must be a positive number")
    for key in ("y_min", "start"):
        _check(_number(document[key]), f"{key} must be a finite number")
    country = document["country_holidays"]
    _check(
        country is None or (isinstance(country, str) and _COUNTRY.fullmatch(country) is not None),
        "country_holidays must be a country code such as 'US'",
    )
    for key in ("changepoints", "history_dates", "history", "train_component_cols"):
        _check(isinstance(document[key], str), f"{key} must be a frame written by Prophet")
    for key in ("train_holiday_names", "holidays"):
        _check(document[key] is None or isinstance(document[key], str), f"{key}: unexpected type")
    _check(isinstance(document["component_modes"], dict), "component_modes must be an object")
    _check(isinstance(document["fit_kwargs"], dict), "fit_kwargs must be an object")
    _check_seasonalities(document["seasonalities"])
    _check_regressors(document["extra_regressors"], spec)
    _check_params(document)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise refuse(message)


def _number(value: Any, low: float = -math.inf, high: float = math.inf) -> bool:
    """A finite JSON number strictly between low and high."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low < value < high
    )


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _ordered(value: Any, what: str) -> dict:
    """Prophet writes an ordered dict as [names, {name: props}]."""
    if not (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], list)
        and isinstance(value[1], dict)
        and sorted(map(str, value[0])) == sorted(value[1])
        and len(set(value[0])) == len(value[0])
    ):
        raise refuse(f"{what} must be written as Prophet writes it: [names, {{name: ...}}]")
    return value[1]


def _check_seasonalities(value: Any) -> None:
    seasonalities = _ordered(value, "seasonalities")
    _check(len(seasonalities) <= _MAX_SEASONALITIES, "the model has too many seasonalities")
    for name, props in seasonalities.items():
        where = f"seasonality {name[:40]!r}"
        _check(isinstance(props, dict), f"{where} must be an object")
        _check(_number(props.get("period"), 0, 1e6), f"{where}: period must be positive")
        _check(
            _whole(props.get("fourier_order"), 1, _MAX_FOURIER_ORDER),
            f"{where}: fourier_order must be a whole number from 1 to {_MAX_FOURIER_ORDER}",
        )
        _check(_number(props.get("prior_scale"), 0), f"{where}: prior_scale must be positive")
        _check(props.get("mode") in _MODES, f"{where}: mode must be additive or multiplicative")
        _check(
            props.get("condition_name") is None,
            f"{where} is conditional; conditional seasonalities are not served",
        )


def _check_regressors(value: Any, spec: dict) -> None:
    extra = _ordered(value, "extra_regressors")
    declared = [feature["name"] for feature in forecasts.regressors(spec)]
    if sorted(extra) != sorted(declared):
        raise ArtifactError(
            f"the model takes the regressors {sorted(extra)} but the input schema declares "
            f"{sorted(declared)}",
            code="schema_mismatch",
        )
    for name, props in extra.items():
        where = f"regressor {name[:40]!r}"
        _check(isinstance(props, dict), f"{where} must be an object")
        _check(_number(props.get("mu")), f"{where}: mu must be a finite number")
        _check(_number(props.get("std"), 0), f"{where}: std must be a positive number")
        _check(props.get("mode") in _MODES, f"{where}: mode must be additive or multiplicative")
        _check(_number(props.get("prior_scale"), 0), f"{where}: prior_scale must be positive")


def _check_params(document: dict) -> None:
    params = document["params"]
    arrays = {}
    for name in _PARAMS:
        try:
            array = np.asarray(params.get(name), dtype=np.float64)
        except (TypeError, ValueError):
            raise refuse(f"parameter {name} must be a matrix of numbers") from None
        _check(array.ndim == 2 and array.shape[0] >= 1, f"parameter {name} must be a matrix")
        _check(bool(np.isfinite(array).all()), f"parameter {name} holds a value that is not finite")
        arrays[name] = array
    samples = arrays["k"].shape[0]
    for name, array in arrays.items():
        _check(array.shape[0] == samples, f"parameter {name} has {array.shape[0]} samples")
    for name in ("k", "m", "sigma_obs"):
        _check(arrays[name].shape[1] == 1, f"parameter {name} must hold one value per sample")
    changepoints = document["changepoints_t"]
    _check(
        isinstance(changepoints, list)
        and len(changepoints) <= _MAX_CHANGEPOINTS
        and all(_number(t) for t in changepoints),
        f"changepoints_t must be at most {_MAX_CHANGEPOINTS} finite numbers",
    )
    _check(
        arrays["delta"].shape[1] == len(changepoints),
        f"delta has {arrays['delta'].shape[1]} values for {len(changepoints)} changepoints",
    )


def _check_frames(model) -> None:
    """What only the frames Prophet read can tell."""
    width = model.params["beta"].shape[1]
    _check(
        model.train_component_cols.shape[0] == width,
        f"beta has {width} coefficients for {model.train_component_cols.shape[0]} features",
    )
    _check(len(model.history_dates) > 0, "the model has no history dates")
    holidays = model.holidays
    if holidays is not None:
        _check(len(holidays) <= _MAX_HOLIDAYS, "the model lists too many holidays")
        for column in ("lower_window", "upper_window"):
            if column in holidays:
                values = np.asarray(holidays[column], dtype=np.float64)
                _check(
                    bool((np.abs(values) <= _MAX_WINDOW).all()),
                    f"holiday {column} must be within {_MAX_WINDOW} days",
                )


# --- Loading and forecasting -------------------------------------------------------------------


def import_prophet():
    """The prophet package, imported without its noise: it logs an error at import when plotly
    (for plots only) is missing, and cmdstanpy logs every fit at INFO."""
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)
    import cmdstanpy.utils
    import prophet
    import prophet.serialize

    # cmdstanpy sets its logger's level when it first builds it, so it is built first here.
    cmdstanpy.utils.get_logger().setLevel(logging.WARNING)
    return prophet


class ProphetForecaster(Forecaster):
    runtime = "prophet"

    def __init__(
        self, data: bytes, *, task: str, input_schema: dict, labels: list[str] | None
    ) -> None:
        if task != FORECAST:
            raise ArtifactError(
                f"a Prophet model forecasts; it cannot serve a {task} model", code="task_mismatch"
            )
        document = parse_document(data)
        if document is None:
            raise refuse("the file is not a Prophet model saved as JSON")
        check_document(document, input_schema)
        self.model = import_prophet().serialize.model_from_dict(document)
        _check_frames(self.model)
        self.frequency = input_schema.get("frequency", "D")
        super().__init__(spec=input_schema)

    def forecast(self, requests: list[dict]) -> list[dict]:
        return [self._forecast_one(request) for request in requests]

    def future(self, request: dict):
        """The frame Prophet predicts on: the steps' dates and the regressors' values."""
        import pandas as pd

        last = self.model.history_dates.max()
        frame = pd.DataFrame({"ds": future_dates(last, request[forecasts.HORIZON], self.frequency)})
        for feature in forecasts.regressors(self.spec):
            frame[feature["name"]] = np.asarray(request[feature["name"]], dtype=np.float64)
        return frame

    def _forecast_one(self, request: dict) -> dict:
        frame = self.future(request)
        with _SAMPLING:
            state = np.random.get_state()
            np.random.seed(SEED)
            try:
                predicted = self.model.predict(frame)
            finally:
                np.random.set_state(state)
        interval = "yhat_lower" in predicted and self.model.uncertainty_samples
        return answer(
            predicted["yhat"].to_numpy(),
            timestamps=predicted["ds"],
            lower=predicted["yhat_lower"].to_numpy() if interval else None,
            upper=predicted["yhat_upper"].to_numpy() if interval else None,
        )


def load(path: Path, **kwargs) -> ProphetForecaster:
    return ProphetForecaster(Path(path).read_bytes(), **kwargs)
