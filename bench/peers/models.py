"""The benchmark's models, trained at bench time on scikit-learn's bundled datasets.

Used by the peers' exporters (in each peer's own venv) and meant for the project's own bench
as well, so both serve the same fitted model on the same rows. Only scikit-learn and numpy are
needed at import; lightgbm and xgboost are imported when their model is trained. Every
estimator has a fixed seed, so each venv trains the same model.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_iris


def _logistic_regression():
    from sklearn.linear_model import LogisticRegression

    # The same estimator as the project's demo `iris` model (registry/demo.py).
    return LogisticRegression(max_iter=1000)


def _random_forest():
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=300, random_state=0)


def _gradient_boosting():
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(n_estimators=300, random_state=0)


def _lightgbm():
    import lightgbm

    return lightgbm.LGBMClassifier(n_estimators=300, random_state=0, verbose=-1)


def _xgboost():
    import xgboost

    return xgboost.XGBClassifier(n_estimators=300, random_state=0)


@dataclass(frozen=True)
class BenchModel:
    key: str
    dataset: str
    # How each peer serves it: "sklearn", "lightgbm" or "xgboost".
    family: str
    make_estimator: Callable
    description: str


MODELS: dict[str, BenchModel] = {
    spec.key: spec
    for spec in (
        BenchModel("iris_lr", "iris", "sklearn", _logistic_regression, "iris, LogisticRegression"),
        BenchModel(
            "rf300",
            "breast_cancer",
            "sklearn",
            _random_forest,
            "breast cancer, 300-tree RandomForestClassifier",
        ),
        BenchModel(
            "gb300",
            "breast_cancer",
            "sklearn",
            _gradient_boosting,
            "breast cancer, 300-tree scikit-learn GradientBoostingClassifier",
        ),
        BenchModel(
            "lgbm300",
            "breast_cancer",
            "lightgbm",
            _lightgbm,
            "breast cancer, 300-tree LightGBM classifier",
        ),
        BenchModel(
            "xgb300",
            "breast_cancer",
            "xgboost",
            _xgboost,
            "breast cancer, 300-tree XGBoost classifier",
        ),
    )
}

_LOADERS = {"iris": load_iris, "breast_cancer": load_breast_cancer}


def snake_case(name: str) -> str:
    """`mean radius` -> `mean_radius`, `sepal length (cm)` -> `sepal_length`."""
    name = re.sub(r"\s*\(.*?\)", "", name)
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


def dataset(key: str) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """X (float64), y (class indices), feature names (snake_case) and class labels."""
    bunch = _LOADERS[MODELS[key].dataset]()
    names = [snake_case(name) for name in bunch.feature_names]
    labels = [str(label) for label in bunch.target_names]
    return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target), names, labels


def train(key: str):
    """The fitted estimator, X and y, on the whole dataset (a benchmark, not an evaluation).

    LightGBM and XGBoost models carry the feature names in their saved files.
    """
    spec = MODELS[key]
    X, y, names, _ = dataset(key)
    estimator = spec.make_estimator()
    if spec.family == "lightgbm":
        estimator.fit(X, y, feature_name=names)
    else:
        estimator.fit(X, y)
    if spec.family == "xgboost":
        estimator.get_booster().feature_names = names
    return estimator, X, y


def rows(key: str, count: int | None = None) -> list[list[float]]:
    """Real rows of the model's dataset, in order, repeated to `count` if asked."""
    X = dataset(key)[0].tolist()
    count = len(X) if count is None else count
    return [X[i % len(X)] for i in range(count)]


def api_rows(key: str, count: int | None = None) -> list[dict[str, float]]:
    """The same rows keyed by feature name, as the project's API takes them."""
    names = dataset(key)[2]
    return [dict(zip(names, row, strict=True)) for row in rows(key, count)]


def save_native(key: str, estimator, directory: Path) -> Path:
    """Save in the library's own file format: the booster's text model (LightGBM), JSON
    (XGBoost), joblib (scikit-learn: what MLServer's sklearn runtime loads). The file's path."""
    family = MODELS[key].family
    if family == "lightgbm":
        path = directory / "model.txt"
        estimator.booster_.save_model(path)
    elif family == "xgboost":
        path = directory / "model.json"
        estimator.save_model(path)
    else:
        import joblib

        path = directory / "model.joblib"
        joblib.dump(estimator, path)
    return path
