"""Train the demo models (scikit-learn's bundled datasets, a synthetic daily series) and register
them, once."""

import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand
from django.db import transaction

from mlservice.progress import Progress
from registry import demo, services
from registry.models import PRODUCTION, MLModel


def _steps(spec: demo.DemoModel | demo.DemoForecast) -> int:
    """Train, then export and register each format."""
    return 3 if isinstance(spec, demo.DemoForecast) else 1 + 2 * len(spec.formats)


class Command(BaseCommand):
    help = (
        "Register the demo models: `iris` and `diabetes` (a skops and an ONNX version each, "
        "production on the ONNX one), the breast-cancer classifiers in LightGBM's and "
        "XGBoost's own formats, and two forecasters of a synthetic daily series (Prophet, and "
        "LightGBM on lags). Idempotent: a model that exists is left alone."
    )

    def handle(self, *args, **options):
        specs = [*demo.DEMO_MODELS.values(), *demo.FORECASTS.values()]
        todo = [spec for spec in specs if not MLModel.objects.filter(name=spec.name).exists()]
        for spec in specs:
            if spec not in todo:
                self.stdout.write(f"{spec.name}: already registered, nothing to do.")
        bar = Progress(self, total=sum(map(_steps, todo)), label="Seeding")
        for spec in todo:
            bar.step(f"{spec.name}: training...")
            with tempfile.TemporaryDirectory() as tmp:
                if isinstance(spec, demo.DemoForecast):
                    versions, metrics = self._forecaster(spec, Path(tmp), bar)
                else:
                    estimator = demo.train(spec)
                    metrics = demo.evaluate(spec, estimator)
                    versions = self._register(spec, estimator, metrics, Path(tmp), bar)
            self.stdout.write(f"{spec.name}: registered {versions}; metrics {metrics}.")
        if todo:
            bar.finish(f"Seeded {', '.join(spec.name for spec in todo)}.")

    @transaction.atomic
    def _forecaster(self, spec: demo.DemoForecast, tmp: Path, bar: Progress) -> tuple[str, dict]:
        model = demo.train_forecast(spec)
        metrics = demo.evaluate_forecast(spec, model)
        bar.step(f"{spec.name}: exporting {spec.format}...")
        path = tmp / f"model.{spec.format}"
        demo.export_forecast(spec, model, path)
        bar.step(f"{spec.name}: validating and registering the {spec.format} version...")
        _version(
            spec, _model(spec), spec.format, path, metrics, alias=PRODUCTION, kind="forecaster"
        )
        return f"v1 ({spec.format}, production)", metrics

    @transaction.atomic
    def _register(self, spec, estimator, metrics: dict, tmp: Path, bar: Progress) -> str:
        """The model and a version per format, production on the last one; returns what was
        registered, in words."""
        model = _model(spec)
        for fmt in spec.formats:
            bar.step(f"{spec.name}: exporting {fmt}...")
            demo.export(fmt, spec, estimator, tmp / f"model.{fmt}")
        registered = []
        for number, fmt in enumerate(spec.formats, start=1):
            alias = PRODUCTION if fmt == spec.formats[-1] else ""
            serving = " (production)" if alias else ""
            bar.step(f"{spec.name}: validating and registering the {fmt} version{serving}...")
            version = _version(
                spec, model, fmt, tmp / f"model.{fmt}", metrics, alias=alias, labels=spec.labels
            )
            twin = " with an ONNX twin" if version.onnx_twin else ""
            registered.append(f"v{number} ({fmt}{twin}{', production' if alias else ''})")
        return " and ".join(registered)


def _model(spec: demo.DemoModel | demo.DemoForecast) -> MLModel:
    return services.model_create(
        name=spec.name, task=spec.task, title=spec.title, description=spec.description
    )


def _version(
    spec, model, fmt: str, path: Path, metrics: dict, *, alias, kind="artifact", labels=None
):
    """A demo version goes through the same validation as an upload; `alias` moves when set."""
    return services.version_create(
        model=model,
        artifact=path,
        format=fmt,
        input_schema=spec.input_schema,
        input_example=spec.input_example,
        metrics=metrics,
        notes=f"Demo {fmt} {kind} trained by seed_demo_models.",
        alias=alias,
        alias_reason=f"Demo seed: serve the {fmt} version",
        labels=labels,
    )
