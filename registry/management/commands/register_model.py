"""Register a model version from the command line, with the same validation as the API."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from mlservice.errors import ServiceError
from mlservice.progress import Progress
from registry import services
from registry.models import ArtifactFormat, MLModel, Task


def _read_json(path: str | None, what: str):
    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CommandError(f"{what} file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise CommandError(f"{what} file {path} is not valid JSON: {exc}") from None


class Command(BaseCommand):
    help = (
        "Validate and register a model artifact as a new version of NAME (creating the model "
        "if --task is given). joblib files need --sha256: pickles run code when loaded."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Model name (slug), e.g. iris")
        parser.add_argument("path", help="Artifact file")
        parser.add_argument("--format", required=True, choices=ArtifactFormat.values)
        parser.add_argument(
            "--schema", required=True, help="JSON file: list of features (forecast: its spec)"
        )
        parser.add_argument(
            "--example", required=True, help="JSON file: one input row (forecast: a request)"
        )
        parser.add_argument("--labels", help="JSON file: class labels (classifiers)")
        parser.add_argument("--metrics", help="JSON file: metrics object")
        parser.add_argument("--notes", default="")
        parser.add_argument("--sha256", help="Expected SHA-256 of the artifact (joblib: required)")
        parser.add_argument("--task", choices=Task.values, help="Create the model with this task")
        parser.add_argument("--title", default="")
        parser.add_argument("--alias", help="Point this alias (e.g. production) at the version")
        parser.add_argument("--ignore-extra-features", action="store_true")

    def handle(self, *args, **options):
        if not Path(options["path"]).is_file():
            raise CommandError(f"Artifact not found: {options['path']}")
        schema = _read_json(options["schema"], "Schema")
        example = _read_json(options["example"], "Example")
        labels = _read_json(options["labels"], "Labels")
        metrics = _read_json(options["metrics"], "Metrics") or {}
        alias = options["alias"] or ""
        bar = Progress(self, total=1, label="Registering")
        try:
            with transaction.atomic():
                model = self._model(options)
                pointing = f" and pointing {alias} at it" if alias else ""
                bar.step(f"validating {options['path']} ({options['format']}){pointing}...")
                version = services.version_create(
                    model=model,
                    artifact=options["path"],
                    format=options["format"],
                    input_schema=schema,
                    input_example=example,
                    labels=labels,
                    metrics=metrics,
                    notes=options["notes"],
                    expected_sha256=options["sha256"],
                    ignore_extra_features=options["ignore_extra_features"],
                    trusted_operator=True,
                    alias=alias,
                    alias_reason="register_model --alias",
                )
        except ServiceError as exc:
            fields = f" {json.dumps(exc.fields)}" if exc.fields else ""
            raise CommandError(f"{exc.detail}{fields}") from None
        pointed = f", {alias} -> v{version.number}" if alias else ""
        bar.finish(
            f"Registered {model.name} v{version.number} ({version.format}, {version.runtime}, "
            f"sha256 {version.sha256[:12]}){pointed}."
        )

    def _model(self, options) -> MLModel:
        """The model to add a version to, created first when --task is given."""
        model = MLModel.objects.filter(name=options["name"]).first()
        if model is not None:
            return model
        if not options["task"]:
            raise CommandError(f"No model named {options['name']!r}; pass --task to create it.")
        return services.model_create(
            name=options["name"], task=options["task"], title=options["title"]
        )
