"""Small demo models trained on scikit-learn's bundled datasets (nothing is downloaded).

`iris` is a classifier and `diabetes` a regressor (scikit-learn, as skops and ONNX versions);
`breast-cancer-lightgbm` and `breast-cancer-xgboost` are gradient-boosted classifiers in their
libraries' own formats. The specs carry what the registry needs to register them (schema,
labels, example, formats); `train`, `evaluate` and `export` produce the artifacts.

`demand-prophet` and `demand-lightgbm` forecast a synthetic daily series (trend, weekly season
and noise from a fixed seed, so the same every time): a Prophet model and a LightGBM regressor
run on lags of the series (`FORECASTS`, trained by `train_forecast`). No Django here, so tests
and scripts can use it without settings.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import skops.io
from sklearn.base import BaseEstimator
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, mean_absolute_error, r2_score

from registry.runtimes.forecasters import lag_features
from registry.runtimes.formats.prophet import import_prophet
from registry.runtimes.sklearn import estimator_to_onnx


@dataclass(frozen=True)
class DemoModel:
    name: str
    title: str
    description: str
    task: str
    input_schema: list[dict]
    labels: list[str] | None
    input_example: dict[str, float]
    make_estimator: Callable[[], BaseEstimator]
    dataset: str = ""  # the bundled dataset it is trained on; its name when empty
    # The versions registered, in order; production goes on the last.
    formats: tuple[str, ...] = ("skops", "onnx")

    @property
    def feature_names(self) -> list[str]:
        return [feature["name"] for feature in self.input_schema]


def _numbers(names: list[str], minimum: float, maximum: float) -> list[dict]:
    return [
        {"name": name, "type": "number", "minimum": minimum, "maximum": maximum} for name in names
    ]


IRIS = DemoModel(
    name="iris",
    title="Iris species",
    description=(
        "Logistic regression on Fisher's iris data: predicts the species (setosa, versicolor, "
        "virginica) from sepal and petal length and width in centimetres."
    ),
    task="classification",
    # Real flowers measure under 10 cm; the bounds only reject obvious nonsense.
    input_schema=_numbers(["sepal_length", "sepal_width", "petal_length", "petal_width"], 0, 50),
    labels=["setosa", "versicolor", "virginica"],
    input_example={
        "sepal_length": 5.1,
        "sepal_width": 3.5,
        "petal_length": 1.4,
        "petal_width": 0.2,
    },
    make_estimator=lambda: LogisticRegression(max_iter=1000),
)

DIABETES = DemoModel(
    name="diabetes",
    title="Diabetes progression",
    description=(
        "Linear regression on scikit-learn's diabetes data: predicts a quantitative measure of "
        "disease progression one year after baseline from age, sex, BMI, blood pressure and six "
        "blood serum measurements (s1-s6). Features are the dataset's mean-centred, scaled "
        "values, not raw units."
    ),
    task="regression",
    # The scaled features all lie within about +-0.2.
    input_schema=_numbers(["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"], -1, 1),
    labels=None,
    # The dataset's first row.
    input_example={
        "age": 0.038075906433423026,
        "sex": 0.05068011873981862,
        "bmi": 0.061696206518683294,
        "bp": 0.0218723855140367,
        "s1": -0.04422349842444599,
        "s2": -0.03482076283769895,
        "s3": -0.04340084565202491,
        "s4": -0.002592261998183278,
        "s5": 0.019907486170462722,
        "s6": -0.01764612515980379,
    },
    make_estimator=LinearRegression,
)


def _lightgbm_classifier():
    from lightgbm import LGBMClassifier

    # One thread and a fixed seed: the same model every time it is trained.
    return LGBMClassifier(n_estimators=100, random_state=0, n_jobs=1, verbose=-1)


def _xgboost_classifier():
    from xgboost import XGBClassifier

    return XGBClassifier(n_estimators=100, max_depth=4, random_state=0, n_jobs=1)


_BREAST_CANCER = load_breast_cancer()
# scikit-learn's names ("mean radius") as feature names ("mean_radius").
_BREAST_CANCER_FEATURES = [name.replace(" ", "_") for name in _BREAST_CANCER.feature_names]


def _breast_cancer(library: str, make_estimator: Callable[[], BaseEstimator]) -> DemoModel:
    return DemoModel(
        name=f"breast-cancer-{library.lower()}",
        title=f"Breast cancer diagnosis ({library})",
        description=(
            f"A {library} gradient-boosted classifier on scikit-learn's breast cancer data "
            "(Wisconsin diagnostic): predicts whether a tumour is malignant or benign from 30 "
            "measurements of its cell nuclei in a digitised image."
        ),
        task="classification",
        # Every measurement is non-negative; the largest (worst area) is about 4,300.
        input_schema=_numbers(_BREAST_CANCER_FEATURES, 0, 10_000),
        labels=[str(name) for name in _BREAST_CANCER.target_names],
        # The dataset's first row.
        input_example=dict(
            zip(_BREAST_CANCER_FEATURES, _BREAST_CANCER.data[0].tolist(), strict=True)
        ),
        make_estimator=make_estimator,
        dataset="breast_cancer",
        formats=(library.lower(),),
    )


BREAST_CANCER_LIGHTGBM = _breast_cancer("LightGBM", _lightgbm_classifier)
BREAST_CANCER_XGBOOST = _breast_cancer("XGBoost", _xgboost_classifier)

DEMO_MODELS: dict[str, DemoModel] = {
    spec.name: spec for spec in (IRIS, DIABETES, BREAST_CANCER_LIGHTGBM, BREAST_CANCER_XGBOOST)
}

_LOADERS = {"iris": load_iris, "diabetes": load_diabetes, "breast_cancer": load_breast_cancer}


def dataset(name: str) -> tuple[list[dict[str, float]], np.ndarray, np.ndarray]:
    """The whole bundled dataset of a demo model as API rows (keyed by the spec's feature
    names), X and y."""
    spec = DEMO_MODELS[name]
    X, y = _LOADERS[spec.dataset or spec.name](return_X_y=True)
    names = spec.feature_names
    rows = [dict(zip(names, values, strict=True)) for values in X.tolist()]
    return rows, X, y


def train(spec: DemoModel) -> BaseEstimator:
    """Fit the spec's estimator on the full dataset (a demo, so no held-out split)."""
    _, X, y = dataset(spec.name)
    return spec.make_estimator().fit(X, y)


def evaluate(spec: DemoModel, estimator: BaseEstimator) -> dict[str, float]:
    """Training-set metrics, rounded for display."""
    _, X, y = dataset(spec.name)
    predicted = estimator.predict(X)
    if spec.task == "classification":
        return {"training_accuracy": round(float(accuracy_score(y, predicted)), 4)}
    return {
        "training_r2": round(float(r2_score(y, predicted)), 4),
        "training_mae": round(float(mean_absolute_error(y, predicted)), 4),
    }


def export(fmt: str, spec: DemoModel, estimator: BaseEstimator, path: str | Path) -> None:
    """Write the trained estimator as an artifact of the registry format `fmt`."""
    if fmt == "skops":
        skops.io.dump(estimator, path)
    elif fmt == "onnx":
        export_onnx(estimator, len(spec.input_schema), path)
    elif fmt == "lightgbm":
        estimator.booster_.save_model(path)
    elif fmt == "xgboost":
        # A copy that carries the feature names (the estimator was fitted on a bare matrix).
        booster = estimator.get_booster().copy()
        booster.feature_names = spec.feature_names
        Path(path).write_bytes(bytes(booster.save_raw("json")))
    else:
        raise ValueError(f"no exporter for {fmt!r}")


def export_skops(estimator: BaseEstimator, path: str | Path) -> None:
    skops.io.dump(estimator, path)


def export_onnx(estimator: BaseEstimator, n_features: int, path: str | Path) -> None:
    """Convert as the registry converts for its ONNX twins (float32 input of n_features)."""
    Path(path).write_bytes(estimator_to_onnx(estimator, n_features).SerializeToString())


# --- Forecasting demos ------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoForecast:
    name: str
    title: str
    description: str
    format: str  # prophet, or the format of a regressor run on lags
    input_schema: dict  # the forecast spec
    input_example: dict  # one forecast request
    task: str = "forecast"


SERIES_START = "2024-01-01"
SERIES_DAYS = 730


def daily_series():
    """(dates, values) of the demo series: 730 days from 2024-01-01, a rising trend, a weekly
    season (weekends low) and noise drawn with a fixed seed, rounded to cents."""
    import pandas as pd

    days = np.arange(SERIES_DAYS)
    noise = np.random.default_rng(0).normal(0, 1.5, SERIES_DAYS)
    weekly = 8 * np.sin(2 * np.pi * days / 7) + 3 * np.cos(2 * np.pi * days / 7)
    values = np.round(100 + 0.05 * days + weekly + noise, 2)
    return pd.date_range(SERIES_START, periods=SERIES_DAYS, freq="D"), values


def _last_history(count: int) -> dict:
    dates, values = daily_series()
    return {"history": values[-count:].tolist(), "history_end": dates[-1].date().isoformat()}


_DEMAND = (
    "a synthetic daily demand series (two years from 2024-01-01: a rising trend, a weekly "
    "season and noise)"
)
DEMAND_PROPHET = DemoForecast(
    name="demand-prophet",
    title="Daily demand forecast (Prophet)",
    description=f"A Prophet model of {_DEMAND}: forecasts the days after its history, with an "
    "80% interval.",
    format="prophet",
    input_schema={"max_horizon": 90, "frequency": "D"},
    input_example={"horizon": 14},
)
DEMAND_LIGHTGBM = DemoForecast(
    name="demand-lightgbm",
    title="Daily demand forecast (LightGBM on lags)",
    description=f"A LightGBM regressor of {_DEMAND}, run a day at a time on the values 1, 2, 3, "
    "7 and 14 days before and the day of the week: send at least the last 14 values and the "
    "date of the last one.",
    format="lightgbm",
    input_schema={
        "max_horizon": 90,
        "frequency": "D",
        "lags": [1, 2, 3, 7, 14],
        "calendar": ["day_of_week"],
    },
    input_example={"horizon": 14, **_last_history(14)},
)
FORECASTS: dict[str, DemoForecast] = {spec.name: spec for spec in (DEMAND_PROPHET, DEMAND_LIGHTGBM)}


def lag_dataset(spec: DemoForecast) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) for a lag model: every day with a full set of lags, its features and its value."""
    dates, values = daily_series()
    first = max(spec.input_schema["lags"])
    X = [
        lag_features(spec.input_schema, values[:t], dates[t], []) for t in range(first, len(values))
    ]
    return np.array(X, dtype=np.float64), values[first:]


def train_forecast(spec: DemoForecast):
    """The fitted model: a Prophet, or a LightGBM regressor on the lag features."""
    if spec.format == "prophet":
        import pandas as pd

        dates, values = daily_series()
        model = import_prophet().Prophet(yearly_seasonality=False, daily_seasonality=False)
        return model.fit(pd.DataFrame({"ds": dates, "y": values}))
    from lightgbm import LGBMRegressor

    from registry.forecasts import model_features

    X, y = lag_dataset(spec)
    names = [feature["name"] for feature in model_features(spec.input_schema)]
    regressor = LGBMRegressor(n_estimators=200, random_state=0, n_jobs=1, verbose=-1)
    return regressor.fit(X, y, feature_name=names)


def export_forecast(spec: DemoForecast, model, path: str | Path) -> None:
    if spec.format == "prophet":
        Path(path).write_text(import_prophet().serialize.model_to_json(model))
    else:
        model.booster_.save_model(path)


def evaluate_forecast(spec: DemoForecast, model) -> dict[str, float]:
    """Training-set mean absolute error of a one-day-ahead prediction, rounded for display."""
    if spec.format == "prophet":
        predicted = model.predict(model.history[["ds"]])["yhat"].to_numpy()
        actual = model.history["y"].to_numpy()
    else:
        X, actual = lag_dataset(spec)
        predicted = model.booster_.predict(X)
    return {"training_mae": round(float(np.mean(np.abs(predicted - actual))), 4)}
