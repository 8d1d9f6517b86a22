"""Train the demo models from scikit-learn's bundled datasets and register them, once."""

import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand
from django.db import transaction

from mlservice.progress import Progress
from registry import demo, services
from registry.models import PRODUCTION, MLModel

STEPS = 5  # train, export skops, export ONNX, register skops, register ONNX as production


class Command(BaseCommand):
    help = (
        "Register the demo models `iris` and `diabetes` (a skops and an ONNX version each, "
        "production on the ONNX one). Idempotent: a model that exists is left alone."
    )

    def handle(self, *args, **options):
        specs = list(demo.DEMO_MODELS.values())
        todo = [spec for spec in specs if not MLModel.objects.filter(name=spec.name).exists()]
        for spec in specs:
            if spec not in todo:
                self.stdout.write(f"{spec.name}: already registered, nothing to do.")
        bar = Progress(self, total=len(todo) * STEPS, label="Seeding")
        for spec in todo:
            bar.step(f"{spec.name}: training...")
            estimator = demo.train(spec)
            metrics = demo.evaluate(spec, estimator)
            with tempfile.TemporaryDirectory() as tmp:
                self._register(spec, estimator, metrics, Path(tmp), bar)
            self.stdout.write(
                f"{spec.name}: registered v1 (skops) and v2 (onnx, production); metrics {metrics}."
            )
        if todo:
            bar.finish(f"Seeded {', '.join(spec.name for spec in todo)}.")

    @transaction.atomic
    def _register(self, spec, estimator, metrics: dict, tmp: Path, bar: Progress) -> None:
        """The model, its skops version, then its ONNX version with production on it."""
        model = services.model_create(
            name=spec.name, task=spec.task, title=spec.title, description=spec.description
        )
        bar.step(f"{spec.name}: exporting skops...")
        demo.export_skops(estimator, tmp / "model.skops")
        bar.step(f"{spec.name}: exporting ONNX...")
        demo.export_onnx(estimator, len(spec.input_schema), tmp / "model.onnx")
        for fmt, alias in (("skops", ""), ("onnx", PRODUCTION)):
            serving = " (production)" if alias else ""
            bar.step(f"{spec.name}: validating and registering the {fmt} version{serving}...")
            services.version_create(
                model=model,
                artifact=tmp / f"model.{fmt}",
                format=fmt,
                input_schema=spec.input_schema,
                input_example=spec.input_example,
                labels=spec.labels,
                metrics=metrics,
                notes=f"Demo {fmt} artifact trained by seed_demo_models.",
                alias=alias,
                alias_reason="Demo seed: serve the ONNX version",
            )
