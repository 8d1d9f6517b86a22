"""Batch chunks: JSON arrays of row objects -> column-wise .npy matrices (and back).

Self-contained on purpose: a migration must not change meaning when the app's code does.
"""

import io

import numpy as np
from django.db import migrations, models


def _npy(matrix) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(matrix, dtype=np.float64), allow_pickle=False)
    return buffer.getvalue()


def _matrix(data) -> np.ndarray:
    return np.load(io.BytesIO(bytes(data)), allow_pickle=False)


def to_columns(apps, schema_editor):
    Chunk = apps.get_model("predictions", "PredictionChunk")
    chunks = Chunk.objects.select_related("prediction__version__model").order_by("pk")
    for chunk in chunks.iterator(chunk_size=20):
        version = chunk.prediction.version
        names = [feature["name"] for feature in version.input_schema]
        width = len(names)
        inputs = [[float(row[name]) for name in names] for row in chunk.inputs]
        chunk.input_matrix = _npy(np.array(inputs, dtype=np.float64).reshape(-1, width))
        if chunk.outputs is not None:
            if version.model.task == "regression":
                outputs = [[out["value"]] for out in chunk.outputs]
                width = 1
            else:
                labels = version.labels
                outputs = [
                    [labels.index(out["label"]), *(out["probabilities"][lb] for lb in labels)]
                    for out in chunk.outputs
                ]
                width = 1 + len(labels)
            chunk.output_matrix = _npy(np.array(outputs, dtype=np.float64).reshape(-1, width))
        chunk.save(update_fields=["input_matrix", "output_matrix"])


def to_json(apps, schema_editor):
    Chunk = apps.get_model("predictions", "PredictionChunk")
    chunks = Chunk.objects.select_related("prediction__version__model").order_by("pk")
    for chunk in chunks.iterator(chunk_size=20):
        version = chunk.prediction.version
        schema = version.input_schema
        rows = []
        for values in _matrix(chunk.input_matrix).tolist():
            row = {}
            for feature, value in zip(schema, values, strict=True):
                kind = feature["type"]
                row[feature["name"]] = (
                    int(value) if kind == "integer" else bool(value) if kind == "boolean" else value
                )
            rows.append(row)
        chunk.inputs = rows
        if chunk.output_matrix is not None:
            outputs = _matrix(chunk.output_matrix).tolist()
            if version.model.task == "regression":
                chunk.outputs = [{"value": out[0]} for out in outputs]
            else:
                labels = version.labels
                chunk.outputs = [
                    {"label": labels[int(out[0])], "probabilities": dict(zip(labels, out[1:]))}
                    for out in outputs
                ]
        chunk.save(update_fields=["inputs", "outputs"])


class Migration(migrations.Migration):
    dependencies = [
        ("predictions", "0003_prediction_cost"),
        ("registry", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="predictionchunk",
            name="input_matrix",
            field=models.BinaryField(null=True),
        ),
        migrations.AddField(
            model_name="predictionchunk",
            name="output_matrix",
            field=models.BinaryField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="predictionchunk",
            name="inputs",
            field=models.JSONField(null=True),
        ),
        migrations.RunPython(to_columns, to_json, elidable=True),
        migrations.RemoveField(model_name="predictionchunk", name="inputs"),
        migrations.RemoveField(model_name="predictionchunk", name="outputs"),
        migrations.AlterField(
            model_name="predictionchunk",
            name="input_matrix",
            field=models.BinaryField(),
        ),
    ]
