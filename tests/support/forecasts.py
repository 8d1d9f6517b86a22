"""Forecasting models for tests, trained on the demo series, and the libraries' own forecasts
to compare the service's answers with (computed here without the service's code)."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from registry import demo
from registry.runtimes.formats.prophet import SEED, import_prophet

PROPHET_SPEC = demo.DEMAND_PROPHET.input_schema
LAG_SPEC = demo.DEMAND_LIGHTGBM.input_schema
LAG_NAMES = ["lag_1", "lag_2", "lag_3", "lag_7", "lag_14", "day_of_week"]
TEMPERATURE = [{"name": "temperature", "type": "number", "minimum": -50, "maximum": 60}]
PROPHET_TEMPERATURE_SPEC = {"max_horizon": 30, "frequency": "D", "regressors": TEMPERATURE}


@dataclass(frozen=True)
class Forecaster:
    name: str
    path: Path
    fmt: str
    spec: dict
    example: dict
    model: Any  # Prophet, or the fitted regressor (whose own predict is the reference)


def temperature_series() -> np.ndarray:
    return np.round(15 + 10 * np.sin(np.arange(demo.SERIES_DAYS) / 58), 1)


def _prophet_with_temperature(root: Path) -> Forecaster:
    dates, values = demo.daily_series()
    temperature = temperature_series()
    model = import_prophet().Prophet(yearly_seasonality=False, daily_seasonality=False)
    model.add_regressor("temperature")
    frame = pd.DataFrame({"ds": dates, "y": values + 0.4 * temperature, "temperature": temperature})
    model.fit(frame)
    path = root / "prophet-temperature.json"
    path.write_text(import_prophet().serialize.model_to_json(model))
    example = {"horizon": 3, "temperature": [12.5, 14.0, 9.5]}
    return Forecaster(
        "prophet-temperature", path, "prophet", PROPHET_TEMPERATURE_SPEC, example, model
    )


def _lag_regressors() -> dict[str, Any]:
    from sklearn.linear_model import Ridge
    from xgboost import XGBRegressor

    return {
        "xgboost": XGBRegressor(n_estimators=60, max_depth=3, random_state=0, n_jobs=1),
        "skops": Ridge(alpha=1.0),
        "onnx": Ridge(alpha=1.0),
    }


def _export_lag(fmt: str, regressor, path: Path) -> None:
    if fmt == "xgboost":
        booster = regressor.get_booster().copy()
        booster.feature_names = LAG_NAMES
        path.write_bytes(bytes(booster.save_raw("json")))
    elif fmt == "skops":
        demo.export_skops(regressor, path)
    else:
        demo.export_onnx(regressor, len(LAG_NAMES), path)


def build(root: Path) -> dict[str, Forecaster]:
    """The demo pair, a Prophet model with a regressor, and lag models in XGBoost, skops and
    ONNX on the demo's lags."""
    forecasters = {}
    for spec in demo.FORECASTS.values():
        model = demo.train_forecast(spec)
        path = root / f"{spec.name}.{spec.format}"
        demo.export_forecast(spec, model, path)
        forecasters[spec.format] = Forecaster(
            spec.format, path, spec.format, spec.input_schema, spec.input_example, model
        )
    forecasters["prophet-temperature"] = _prophet_with_temperature(root)
    X, y = demo.lag_dataset(demo.DEMAND_LIGHTGBM)
    for fmt, regressor in _lag_regressors().items():
        regressor.fit(X, y)
        path = root / f"lag.{fmt}"
        _export_lag(fmt, regressor, path)
        example = demo.DEMAND_LIGHTGBM.input_example
        forecasters[fmt] = Forecaster(fmt, path, fmt, LAG_SPEC, example, regressor)
    return forecasters


# --- The libraries' own forecasts -------------------------------------------------------------


def prophet_reference(model, horizon: int, regressors: dict | None = None) -> pd.DataFrame:
    """Prophet's forecast as its documentation makes it: predict on the last `horizon` rows of
    make_future_dataframe, its uncertainty samples drawn after seeding numpy with the service's
    seed."""
    future = model.make_future_dataframe(periods=horizon).tail(horizon).copy()
    for name, values in (regressors or {}).items():
        future[name] = values
    np.random.seed(SEED)
    return model.predict(future)


def lag_reference(regressor, history: list[float], history_end: str, horizon: int) -> list:
    """The demo lag model's recursion, by hand: each day from the values 1, 2, 3, 7 and 14 days
    before (the history, then the forecasts) and the day's weekday, with the library's own
    predict on one row at a time."""
    series = list(history)
    day = pd.Timestamp(history_end)
    for _ in range(horizon):
        day += pd.Timedelta(days=1)
        row = [series[-1], series[-2], series[-3], series[-7], series[-14], day.day_of_week]
        predict = getattr(regressor, "booster_", regressor).predict
        series.append(float(predict(np.array([row], dtype=np.float64))[0]))
    return series[len(history) :]


def values(answer: dict, key: str = "value") -> list:
    return [step[key] for step in answer["forecast"]]
