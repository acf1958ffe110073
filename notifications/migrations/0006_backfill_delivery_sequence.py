"""Number the existing notifications per recipient in id order and set each user's counter.

Two set-based statements (a window function, then a GROUP BY), the same on
PostgreSQL and SQLite. Run before any code that inserts with seqs.
"""

from django.db import migrations

NUMBER_ROWS = """
UPDATE notifications_notification AS n SET seq = numbered.seq
FROM (
    SELECT id, row_number() OVER (PARTITION BY recipient_id ORDER BY id) AS seq
    FROM notifications_notification
) AS numbered
WHERE n.id = numbered.id
"""

SET_COUNTERS = """
INSERT INTO notifications_notificationsequence (user_id, last_seq)
SELECT recipient_id, MAX(seq) FROM notifications_notification GROUP BY recipient_id
"""


class Migration(migrations.Migration):
    dependencies = [("notifications", "0005_delivery_sequence")]

    operations = [
        migrations.RunSQL(NUMBER_ROWS, migrations.RunSQL.noop),
        migrations.RunSQL(SET_COUNTERS, "DELETE FROM notifications_notificationsequence"),
    ]
