"""Train a bench model and save it in a peer's native format. Runs in that peer's own venv:

    bench/.peers/mlserver/venv/bin/python bench/peers/export.py mlserver rf300 OUT_DIR
    bench/.peers/mlflow/venv/bin/python bench/peers/export.py mlflow rf300 OUT_DIR

MLServer: a model repository in OUT_DIR (joblib for scikit-learn, the booster's text model for
LightGBM, JSON for XGBoost). MLflow: the model logged to a sqlite tracking store in OUT_DIR.
Either way OUT_DIR/export.json says what to serve, and the labels the model itself predicts
for every row of the dataset, so the runner can check what the server answers.
"""

import json
import sys
from importlib.metadata import version
from pathlib import Path

import models  # bench/peers/models.py: this script runs with bench/peers on sys.path

PIP_NAMES = {
    "sklearn": ["mlflow", "scikit-learn"],
    "lightgbm": ["mlflow", "lightgbm"],
    "xgboost": ["mlflow", "xgboost-cpu"],
}


def export_mlserver(key: str, estimator, out: Path) -> dict:
    runtime = {
        "sklearn": "mlserver_sklearn.SKLearnModel",
        "lightgbm": "mlserver_lightgbm.LightGBMModel",
        "xgboost": "mlserver_xgboost.XGBoostModel",
    }[models.MODELS[key].family]
    model_dir = out / key
    model_dir.mkdir(parents=True)
    path = models.save_native(key, estimator, model_dir)
    settings = {"name": key, "implementation": runtime, "parameters": {"uri": f"./{path.name}"}}
    (model_dir / "model-settings.json").write_text(json.dumps(settings, indent=1))
    return {"repository": str(out), "artifact": str(path)}


def export_mlflow(key: str, estimator, X, out: Path) -> dict:
    import mlflow
    import pandas as pd

    family = models.MODELS[key].family
    names = models.dataset(key)[2]
    tracking_uri = f"sqlite:///{out / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.create_experiment("bench", artifact_location=(out / "artifacts").as_uri())
    mlflow.set_experiment("bench")
    flavor = getattr(mlflow, family)
    options = {}
    if family == "sklearn":
        # Fitted on a plain matrix, so served one (a tensor signature): with named columns
        # scikit-learn would warn on every request that the names were not fitted.
        example = X[:1]
        # MLflow 3 saves scikit-learn models with skops, which refuses what it does not trust
        # by default (tree nodes, gradient boosting's loss): trust this model's own types.
        import skops.io

        options["skops_trusted_types"] = skops.io.get_untrusted_types(
            data=skops.io.dumps(estimator)
        )
    else:
        # The boosters carry their feature names, so they get a table with those columns.
        example = pd.DataFrame(X[:1], columns=names)
    # Stated, so MLflow does not load the model in a subprocess to infer them (it is served
    # from this venv with --env-manager local, which installs nothing).
    requirements = [f"{name}=={version(name)}" for name in PIP_NAMES[family]]
    with mlflow.start_run():
        info = flavor.log_model(
            estimator, name=key, input_example=example, pip_requirements=requirements, **options
        )
    return {"tracking_uri": tracking_uri, "model_uri": info.model_uri}


def main(peer: str, key: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=False)
    estimator, X, _ = models.train(key)
    if peer == "mlserver":
        served = export_mlserver(key, estimator, out)
    else:
        served = export_mlflow(key, estimator, X, out)
    expected = [int(label) for label in estimator.predict(X)]
    (out / "export.json").write_text(json.dumps({**served, "expected": expected}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
