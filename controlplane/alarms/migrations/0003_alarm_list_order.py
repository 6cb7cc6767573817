from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    """The alarm lists' order (newest first) as an index: a page no longer sorts every alarm."""

    dependencies = [
        ("alarms", "0002_outbox_targets_replays_history"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="alarm",
            index=models.Index(fields=["-event_time", "-id"], name="alarm_newest_first"),
        ),
    ]
