"""Run the retention purge now (what beat runs every 10 minutes), e.g. to catch up after a pause."""

from django.core.management.base import BaseCommand, CommandError

from notifications.retention import retention_purge


class Command(BaseCommand):
    help = "Delete notifications past their type's retention, in short batches; repeat runs until caught up."

    def add_arguments(self, parser):
        parser.add_argument("--budget", type=float, default=None, help="seconds per run (default RETENTION_RUN_SECONDS)")
        parser.add_argument("--until-caught-up", action="store_true", help="run again until a lap is over")
        parser.add_argument("--max-rows", type=int, default=None, help="stop after deleting about this many")

    def handle(self, *args, budget, until_caught_up, max_rows, **options):
        if budget is not None and budget <= 0:
            raise CommandError("--budget must be above 0")
        total = 0
        while True:
            run = retention_purge(budget_seconds=budget)
            total += run.deleted
            by_type = ", ".join(f"{t} {n}" for t, n in run.deleted_by_type.items()) or "nothing"
            self.stdout.write(f"run #{run.pk}: {run.deleted} deleted ({by_type}) in {run.batches} batches, {run.stopped_because}")
            if not until_caught_up or run.stopped_because == "caught_up" or (max_rows and total >= max_rows):
                break
        self.stdout.write(self.style.SUCCESS(f"{total} deleted"))
