from django.db import migrations, models


class Migration(migrations.Migration):
    # Its own migration: the index is built once over the numbered rows, not row by row.
    dependencies = [("notifications", "0006_backfill_delivery_sequence")]

    operations = [
        migrations.AddConstraint(
            model_name="notification",
            constraint=models.UniqueConstraint(fields=("recipient", "seq"), name="one_seq_per_recipient"),
        ),
    ]
