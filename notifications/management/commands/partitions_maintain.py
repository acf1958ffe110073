"""Create the notification partitions that are due and drop emptied old ones now (what beat runs hourly)."""

from django.core.management.base import BaseCommand

from notifications import partitions


class Command(BaseCommand):
    help = "Create this month's notification partition and PARTITIONS_AHEAD_MONTHS more; drop old ones the purge emptied."

    def handle(self, *args, **options):
        if not partitions.is_partitioned():
            self.stdout.write("Not PostgreSQL: the notifications table is a plain table, nothing to do.")
            return
        done = partitions.partitions_maintain()
        for verb in ("created", "dropped", "kept"):
            self.stdout.write(f"{verb}: {', '.join(done[verb]) or 'none'}")
        self.stdout.write(self.style.SUCCESS(f"{partitions.months_ahead()} months ahead"))
