"""Statistics on how many (UTC day, version) pairs the feedback has, for the quality per day.

Without them PostgreSQL cannot estimate the groups of `quality._totals_by_day` (an expression
of `predicted_at`), takes every row for a group of its own, and aggregates in one process; with
them it aggregates in parallel. The expression is the one that query groups by. ANALYZE fills
them now rather than at the table's next automatic analyze.
"""

from django.db import migrations

DAY = "((predicted_at AT TIME ZONE 'UTC')::date)"


class Migration(migrations.Migration):
    dependencies = [("evidence", "0003_shadow_feedback_backfill")]

    operations = [
        migrations.RunSQL(
            [
                f"CREATE STATISTICS feedback_day_version ON {DAY}, version_id FROM evidence_feedback",
                "ANALYZE evidence_feedback",
            ],
            "DROP STATISTICS feedback_day_version",
        )
    ]
