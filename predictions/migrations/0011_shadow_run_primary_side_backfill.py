"""The primary's side of the shadow runs stored before it was kept on them.

Not atomic: each slice of runs commits on its own (`mlservice.batches`), so a long backfill
holds no lock on the table and shows its progress; a comparison meanwhile counts only the runs
already filled. It runs the current rule (`compare_with_primaries`) rather than a frozen copy of
it, so it needs the columns of this migration's time; a new database has no runs and skips it.
"""

from django.db import migrations


def _report(message: str) -> None:
    print(f"\n    shadow runs compared: {message}", end="", flush=True)


def backfill(apps, schema_editor):
    from predictions.models import compare_with_primaries

    compare_with_primaries(report=_report)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("predictions", "0010_shadow_run_primary_side")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
