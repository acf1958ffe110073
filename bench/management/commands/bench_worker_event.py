"""Worker cost of one small event: a bid's event to its job's client, run in this process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/12 \
        python manage.py bench_worker_event --events 500

Creates --events bids (one per bench cleaner, on one job) and their bid_received outbox
events, then runs the worker's dispatch of each in this process (publishing to the real
Redis transport) under cProfile. Prints the SQL statements and transactions of one event,
the CPU per event, and "where the time goes": the top functions by cumulative time per event.
In-process on purpose: the worker's own code path, without Celery's scheduling noise.
"""

import cProfile
import pstats
import time
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.data import ensure_users, require_full_stack
from bench.tables import print_table
from jobs.models import CleaningJob, JobBid, ServiceType
from notifications.catalog import NotificationType
from notifications.models import Notification, OutboxEvent, OutboxStatus
from notifications.outbox.dispatch import outbox_event_dispatch

CLIENT_PREFIX = "bench-we-client-"
CLEANER_PREFIX = "bench-we-cleaner-"


class Command(BaseCommand):
    help = "Measure the worker's statements, transactions and CPU for one single-recipient event."

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=500)
        parser.add_argument("--top", type=int, default=18, help="rows of the where-the-time-goes table")

    def handle(self, *args, **options):
        require_full_stack()
        # Bench commands load with DEBUG on, which logs every query: a worker runs with it off.
        settings.DEBUG = False
        count = options["events"]
        events = self._events(count + 1)
        write = self.stdout.write

        # One event's statements: the first one also warms caches (templates, prepared code paths).
        outbox_event_dispatch(event_id=events.pop())
        probe = events.pop()
        with CaptureQueriesContext(connection) as captured, _counting_transactions() as atomics:
            outbox_event_dispatch(event_id=probe)
        statements = [q["sql"] for q in captured.captured_queries]
        write(f"one bid_received event: {len(statements)} SQL statements, {atomics['outermost']} transaction(s)")
        for sql in statements:
            write("  " + sql[:150].replace("\n", " "))

        profiler = cProfile.Profile(time.process_time)  # CPU, not waiting on PostgreSQL
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        profiler.enable()
        for event_id in events:
            outbox_event_dispatch(event_id=event_id)
        profiler.disable()
        cpu_ms = (time.process_time() - started_cpu) * 1000 / len(events)
        wall_ms = (time.perf_counter() - started_wall) * 1000 / len(events)
        done = OutboxEvent.objects.filter(pk__in=events, status=OutboxStatus.DONE).count()
        stored = Notification.objects.filter(event_id__in=events).count()
        write(f"\n{len(events)} events: {done} done, {stored} notifications stored")
        print_table(write, ["events", "CPU ms/event (profiled)", "wall ms/event (profiled)"], [[len(events), round(cpu_ms, 2), round(wall_ms, 2)]])

        # Unprofiled CPU: cProfile itself roughly doubles Python-heavy code.
        more = self._events(count, offset=count + 1)
        started_cpu = time.process_time()
        for event_id in more:
            outbox_event_dispatch(event_id=event_id)
        plain_ms = (time.process_time() - started_cpu) * 1000 / len(more)
        write(f"CPU per event without the profiler: {plain_ms:.2f} ms ({len(more)} events)\n")

        stats = pstats.Stats(profiler)
        rows = []
        for (filename, line, name), (_, calls, _tottime, cumtime, _) in sorted(
            stats.stats.items(), key=lambda item: item[1][3], reverse=True
        )[: options["top"] * 3]:
            where = f"{filename.rsplit('/site-packages/', 1)[-1].rsplit('/directpath/', 1)[-1]}:{line}({name})"
            rows.append([where[-90:], round(calls / len(events), 1), round(cumtime * 1000 / len(events), 3)])
        write("where the time goes (CPU, cumulative, per event, under the profiler):")
        print_table(write, ["function", "calls/event", "cum CPU ms/event"], rows[: options["top"] * 3])

    def _events(self, count: int, offset: int = 0) -> list[int]:
        client_id = ensure_users(CLIENT_PREFIX, 1)[0]
        cleaner_ids = ensure_users(CLEANER_PREFIX, offset + count)[offset:]
        job = CleaningJob.objects.create(
            client_id=client_id, title="Bench flat", service_type=ServiceType.values[0], address="1 Bench St",
            city="Bench", latitude=52.0, longitude=13.0, scheduled_start=timezone.now() + timedelta(days=3),
            duration_hours=Decimal("2"), budget=Decimal("80"),
        )
        bids = JobBid.objects.bulk_create([JobBid(job=job, cleaner_id=c, amount=Decimal("75")) for c in cleaner_ids])
        rows = OutboxEvent.objects.bulk_create(
            [OutboxEvent(event_type=NotificationType.BID_RECEIVED, payload={"bid_id": bid.pk}) for bid in bids]
        )
        return [row.pk for row in rows]


class _counting_transactions:
    """Counts outermost transaction.atomic blocks entered (each is one BEGIN ... COMMIT)."""

    def __enter__(self):
        from django.db.transaction import Atomic

        self.counts = {"outermost": 0}
        self.original = Atomic.__enter__
        counts, original = self.counts, self.original

        def entering(atomic):
            if not connection.in_atomic_block:
                counts["outermost"] += 1
            return original(atomic)

        Atomic.__enter__ = entering
        return self.counts

    def __exit__(self, *exc):
        from django.db.transaction import Atomic

        Atomic.__enter__ = self.original
