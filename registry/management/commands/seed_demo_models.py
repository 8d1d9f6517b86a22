"""Train the demo models from scikit-learn's bundled datasets and register them, once."""

import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand
from django.db import transaction

from mlservice.progress import Progress
from registry import demo, services
from registry.models import MLModel

STEPS = 5  # train, export, register skops, register onnx, set the alias


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
            prefix = f"{spec.name}:"
            bar.step(f"{prefix} training...")
            estimator = demo.train(spec)
            metrics = demo.evaluate(spec, estimator)
            with tempfile.TemporaryDirectory() as tmp, transaction.atomic():
                model = services.model_create(
                    name=spec.name, task=spec.task, title=spec.title, description=spec.description
                )
                skops_path, onnx_path = Path(tmp, "model.skops"), Path(tmp, "model.onnx")
                bar.step(f"{prefix} exporting skops and ONNX...")
                demo.export_skops(estimator, skops_path)
                demo.export_onnx(estimator, len(spec.input_schema), onnx_path)
                versions = []
                for fmt, path in (("skops", skops_path), ("onnx", onnx_path)):
                    bar.step(f"{prefix} validating and registering the {fmt} version...")
                    versions.append(
                        services.version_create(
                            model=model,
                            artifact=path,
                            format=fmt,
                            input_schema=spec.input_schema,
                            input_example=spec.input_example,
                            labels=spec.labels,
                            metrics=metrics,
                            notes=f"Demo {fmt} artifact trained by seed_demo_models.",
                        )
                    )
                bar.step(f"{prefix} pointing production at the ONNX version...")
                services.alias_set(
                    model=model,
                    alias="production",
                    version=versions[-1],
                    reason="Demo seed: serve the ONNX version",
                )
            self.stdout.write(
                f"{prefix} registered v1 (skops) and v2 (onnx, production); metrics {metrics}."
            )
        if todo:
            bar.finish(f"Seeded {', '.join(spec.name for spec in todo)}.")
