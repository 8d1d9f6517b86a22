from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("predictions", "0002_ops_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="prediction",
            name="cost",
            field=models.DecimalField(decimal_places=4, default=0, max_digits=16),
        ),
    ]
