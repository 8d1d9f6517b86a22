"""Score the shadow runs that had feedback before `ShadowFeedback` kept their scores.

Not atomic: each slice of runs commits on its own (`evidence.shadows.scores_backfill`), so a
long backfill holds no lock on the tables and shows its progress. It runs the current scoring
rather than a frozen copy of it, so it needs the columns of this migration's time; a new
database has no runs and skips it.
"""

from django.db import migrations


def _report(message: str) -> None:
    print(f"\n    shadow runs scored: {message}", end="", flush=True)


def backfill(apps, schema_editor):
    from evidence import shadows

    shadows.scores_backfill(report=_report)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("evidence", "0002_shadow_feedback")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
