"""Fan-out benchmark: our path against the stock path, for audiences of given sizes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/12 \
        python manage.py bench_fanout --recipients 1000,10000,100000 --runs 3

Our path: a job is posted (a real service call, committed); a real Celery worker
(started here, 2 processes) resolves the audience, inserts the notifications in
chunks and publishes them through Redis; a real uvicorn server relays them to a
sample of connected SSE clients. Timed from the commit to (a) every
notification stored, (b) every SSE event published, (c) the last sample client's
receipt.

With --receipts on (or both, taking turns with off in the same run) the sample clients ack
each notification's receipt the way the page does (bench/receipt_acks.py), and the run reports
commit-to-delivered from the server's histogram (notification_commit_to_delivered_seconds,
scraped from /metrics before and after) and, exactly, from the rows (notifications/trace.py).

Stock path: one Notification.objects.create and one django-eventstream
send_event (DjangoModelStorage, published to Redis) per recipient, in this process.
"""

import time
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, reset_queries, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token

from bench.data import require_full_stack
from bench.measure import peak_rss_mb, reset_peak_rss, rss_mb
from bench.processes import start_server, start_worker
from bench.receipt_acks import histogram_quantile, latency_buckets
from bench.sse_clients import SSEFleet
from bench.tables import median, print_table
from celery_app import app as celery_app
from jobs import services as job_services
from jobs.models import CleanerProfile, CleaningJob, JobStatus, ServiceType, Weekday
from notifications.catalog import NotificationType
from notifications.models import Notification, OutboxEvent, OutboxStatus
from notifications.outbox.dispatch import outbox_event_dispatch
from notifications.trace import outbox_event_delivery_latency

User = get_user_model()

# A place of its own, far from the demo city, so benchmark jobs reach only benchmark cleaners.
BENCH_LAT, BENCH_LON = 45.4642, 9.19
BENCH_PREFIX = "bench-cleaner-"
BENCH_CLIENT = "bench-client"


class Command(BaseCommand):
    help = "Measure the notification fan-out against the stock one-by-one path."

    def add_arguments(self, parser):
        parser.add_argument("--recipients", default="1000,10000,100000", help="comma-separated audience sizes")
        parser.add_argument("--runs", type=int, default=3, help="runs per size; medians are printed")
        parser.add_argument("--sample", type=int, default=50, help="SSE clients connected during each run")
        parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
        parser.add_argument(
            "--stock-max", type=int, default=10000,
            help="largest audience the stock path runs for real; bigger ones use its measured rate (marked ~)",
        )
        parser.add_argument("--stock-runs", type=int, default=None, help="runs of the stock path (default: --runs)")
        parser.add_argument(
            "--receipts", choices=("off", "on", "both"), default="off",
            help="sample clients ack receipts as the page does; both: runs with and without take turns",
        )

    def handle(self, *args, **options):
        require_full_stack()
        sizes = sorted({int(s) for s in options["recipients"].split(",") if s.strip()})
        if not sizes or sizes[0] < 1:
            raise CommandError("--recipients needs positive integers")
        runs, sample = options["runs"], options["sample"]
        variants = {"off": [False], "on": [True], "both": [False, True]}[options["receipts"]]
        stock_runs = options["stock_runs"] or runs

        self.stdout.write(f"Preparing {max(sizes):,} benchmark cleaners ...")
        cleaner_ids = self._ensure_cleaners(max(sizes))
        client = self._client()

        worker = start_worker(options["concurrency"])
        server, base_url = start_server()
        results = []
        try:
            for size in sizes:
                audience = cleaner_ids[:size]
                self._set_audience(audience)
                ours = {ack: [] for ack in variants}
                for _ in range(runs):  # the variants take turns: a noisy minute hits them alike
                    for ack, variant_runs in ours.items():
                        variant_runs.append(self._run_ours(client, audience, sample, base_url, worker, ack=ack))
                queries, chunks = self._count_queries(client, audience)
                stock = self._run_stock(audience, stock_runs, options["stock_max"])
                results.extend((size, ack, variant_runs, queries, chunks, stock) for ack, variant_runs in ours.items())
                self.stdout.write(f"  {size:,} recipients done")
        finally:
            server.stop()
            worker.stop()
            self._set_audience([])

        self._report(results, runs)
        self._report_latency([r for r in results if r[1]], runs)

    # --- data --------------------------------------------------------------------

    def _ensure_cleaners(self, count: int) -> list[int]:
        existing = User.objects.filter(username__startswith=BENCH_PREFIX).count()
        if existing < count:
            password = make_password(None)
            for start in range(existing, count, 5000):
                users = [
                    User(username=f"{BENCH_PREFIX}{i:06d}", password=password, is_active=True)
                    for i in range(start, min(count, start + 5000))
                ]
                User.objects.bulk_create(users, batch_size=5000)
                created = User.objects.filter(username__in=[u.username for u in users]).values_list("pk", flat=True)
                CleanerProfile.objects.bulk_create(
                    [
                        CleanerProfile(
                            user_id=pk, service_types=frozenset(ServiceType.values), working_days=frozenset(Weekday.values),
                            latitude=BENCH_LAT, longitude=BENCH_LON, service_radius_km=30, is_verified=False,
                        )
                        for pk in created
                    ],
                    batch_size=5000,
                )
                self.stdout.write(f"  {min(count, start + 5000):,} / {count:,}", ending="\r")
            self.stdout.write("")
            with connection.cursor() as cursor:  # fresh planner statistics, as autovacuum would give
                cursor.execute("ANALYZE auth_user, jobs_cleanerprofile")
        return list(User.objects.filter(username__startswith=BENCH_PREFIX).order_by("pk").values_list("pk", flat=True)[:count])

    def _client(self):
        client, _ = User.objects.get_or_create(username=BENCH_CLIENT)
        return client

    def _set_audience(self, audience: list[int]) -> None:
        """Exactly these benchmark cleaners are verified, so exactly they are eligible."""
        profiles = CleanerProfile.objects.filter(user__username__startswith=BENCH_PREFIX)
        profiles.update(is_verified=False)
        if audience:
            profiles.filter(user_id__lte=audience[-1]).update(is_verified=True)

    def _post_job(self, client) -> CleaningJob:
        with transaction.atomic():
            job = job_services.job_create(
                client=client, title="Benchmark office clean", service_type=ServiceType.OFFICE,
                address="Piazza del Duomo 1", city="Milan", latitude=BENCH_LAT, longitude=BENCH_LON,
                scheduled_start=timezone.now() + timedelta(days=2), duration_hours=Decimal("3"), budget=Decimal("100"),
            )
        return job

    def _retire(self, job_ids: list[int]) -> None:
        # Close the jobs without signals and drop their notifications: the next run starts clean.
        Notification.objects.filter(job_id__in=job_ids).delete()
        CleaningJob.objects.filter(pk__in=job_ids).update(status=JobStatus.CANCELLED)

    # --- our path ------------------------------------------------------------------

    def _run_ours(self, client, audience, sample, base_url, worker, *, ack: bool = False) -> dict:
        step = max(1, len(audience) // max(1, sample))
        sample_ids = audience[::step][:sample]
        tokens = {uid: Token.objects.get_or_create(user_id=uid)[0].key for uid in sample_ids}
        fleet = SSEFleet(base_url, tokens, ack=ack)
        fleet.start(timeout=max(300, len(tokens) / 10))
        buckets_before = latency_buckets(base_url) if ack else {}
        pool = worker.children()
        for pid in pool:
            reset_peak_rss(pid)
        baseline = {pid: rss_mb(pid) for pid in pool}

        started = time.time()
        job = self._post_job(client)
        event = self._wait_for_event(job.pk)
        stored_at = self._wait_for_count(event.pk, len(audience))
        event = self._wait_for_done(event.pk)
        published_at = event.processed_at.timestamp()
        received_at = self._wait_for_receipt(fleet, sample_ids)
        fleet.stop()  # sends the acks still queued and waits for their answers
        latency = {}
        if ack:
            buckets_after = latency_buckets(base_url)
            exact = outbox_event_delivery_latency(event) or {}
            latency = {
                "acked": Notification.objects.filter(event_id=event.pk, delivered_at__isnull=False).count(),
                "ack_statuses": fleet.ack_statuses,
                **{f"hist_p{round(q * 100)}": histogram_quantile(q, buckets_before, buckets_after) for q in (0.5, 0.95, 0.99)},
                **{f"exact_p{round(q * 100)}": value for q, value in exact.items()},
            }
        growth = max((peak_rss_mb(pid) - baseline[pid] for pid in pool), default=float("nan"))
        peak = max((peak_rss_mb(pid) for pid in pool), default=float("nan"))
        self._retire([job.pk])
        return {
            "stored": stored_at - started,
            "published": published_at - started,
            "received": received_at - started if received_at else None,
            "delivered": sum(1 for uid in sample_ids if fleet.stats.received.get(uid)),
            "sample": len(sample_ids),
            "peak_mb": peak,
            "growth_mb": growth,
            **latency,
        }

    def _wait_for_event(self, job_id: int, timeout: float = 60) -> OutboxEvent:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            event = OutboxEvent.objects.filter(event_type=NotificationType.JOB_CREATED, payload__job_id=job_id).first()
            if event:
                return event
            time.sleep(0.005)
        raise CommandError("the job_created event was not recorded")

    def _wait_for_count(self, event_id: int, expected: int, timeout: float = 300) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if Notification.objects.filter(event_id=event_id).count() >= expected:
                return time.time()
            time.sleep(0.01)
        raise CommandError(f"only {Notification.objects.filter(event_id=event_id).count()} of {expected} stored")

    def _wait_for_done(self, event_id: int, timeout: float = 300) -> OutboxEvent:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            event = OutboxEvent.objects.get(pk=event_id)
            if event.status == OutboxStatus.DONE:
                return event
            time.sleep(0.01)
        raise CommandError("the fan-out did not finish")

    def _wait_for_receipt(self, fleet, sample_ids, timeout: float = 30) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            times = [fleet.stats.received.get(uid) for uid in sample_ids]
            if all(times):
                return max(t[0][1] for t in times)
            time.sleep(0.01)
        return None

    def _count_queries(self, client, audience) -> tuple[int, int]:
        """SQL statements of one fan-out, run in this process with chunk tasks inline."""
        job = CleaningJob.objects.create(
            client=client, title="Query count", service_type=ServiceType.OFFICE, address="x", city="Milan",
            latitude=BENCH_LAT, longitude=BENCH_LON, scheduled_start=timezone.now() + timedelta(days=2),
            duration_hours=Decimal("1"), budget=Decimal("10"),
        )
        # The save above recorded an event and enqueued it for the worker; take it over here instead.
        event = OutboxEvent.objects.filter(payload__job_id=job.pk).first()
        OutboxEvent.objects.filter(pk=event.pk).update(status=OutboxStatus.DONE)
        mine = OutboxEvent.objects.create(event_type=NotificationType.JOB_CREATED, payload={"job_id": job.pk})
        eager = celery_app.conf.task_always_eager
        celery_app.conf.task_always_eager = True
        try:
            reset_queries()
            with CaptureQueriesContext(connection) as captured:
                outbox_event_dispatch(event_id=mine.pk)
        finally:
            celery_app.conf.task_always_eager = eager
        mine.refresh_from_db()
        assert mine.recipient_count == len(audience), (mine.recipient_count, len(audience))
        self._retire([job.pk])
        return len(captured.captured_queries), mine.chunk_count

    # --- the stock path ----------------------------------------------------------------

    def _run_stock(self, audience, runs: int, stock_max: int) -> dict:
        import redis
        from django.conf import settings
        from django_eventstream import eventstream
        from django_eventstream.models import Event, EventCounter

        measured = audience[:stock_max]
        settings.EVENTSTREAM_STORAGE_CLASS = "django_eventstream.storage.DjangoModelStorage"
        eventstream.redis_client = redis.Redis.from_url(settings.REDIS_URL)
        user = User.objects.get(pk=audience[0])
        durations = []
        try:
            for _ in range(runs):
                payload = {"notification_type": "job_created", "title": "New Office cleaning job in Milan",
                           "message": "Benchmark", "priority": "medium", "action_url": "/jobs/0/"}
                started = time.perf_counter()
                for recipient_id in measured:
                    notification = Notification.objects.create(
                        recipient_id=recipient_id, notification_type="job_created", title=payload["title"],
                        message=payload["message"], priority="medium", action_url=payload["action_url"],
                    )
                    eventstream.send_event(f"user-{recipient_id}", "notification", payload | {"id": notification.pk})
                durations.append(time.perf_counter() - started)
                Notification.objects.filter(recipient_id__in=measured, event__isnull=True, title=payload["title"]).delete()
                Event.objects.all().delete()
                EventCounter.objects.all().delete()
        finally:
            del settings.EVENTSTREAM_STORAGE_CLASS
            eventstream.redis_client = None
        seconds = median(durations)
        rate = len(measured) / seconds
        return {
            "seconds": seconds * len(audience) / len(measured),
            "rate": rate,
            "extrapolated": len(measured) < len(audience),
            "user": user.pk,
        }

    # --- report ------------------------------------------------------------------------

    def _report(self, results, runs) -> None:
        self.stdout.write("")
        self.stdout.write(f"Fan-out, medians of {runs} runs (seconds from commit; ~ = stock time extrapolated from its measured rate)")
        headers = [
            "recipients", "receipts", "stored s", "published s", "SSE sample received s", "notifications/s",
            "SQL queries", "chunks", "worker peak MB", "worker growth MB", "stock s", "stock/s", "speed-up",
        ]
        rows = []
        summary = []
        for size, ack, ours, queries, chunks, stock in results:
            published = median(r["published"] for r in ours)
            rows.append([
                size,
                "acked" if ack else "off",
                median(r["stored"] for r in ours),
                published,
                median(r["received"] for r in ours),
                size / published,
                queries,
                chunks,
                median(r["peak_mb"] for r in ours),
                median(r["growth_mb"] for r in ours),
                ("~" if stock["extrapolated"] else "") + f"{stock['seconds']:,.2f}",
                stock["rate"],
                f"{stock['seconds'] / published:,.0f}x",
            ])
            delivered = [f"{r['delivered']}/{r['sample']}" for r in ours]
            summary.append(f"  {size:,}{' (acked)' if ack else ''}: SSE sample deliveries per run {', '.join(delivered)}")
        print_table(self.stdout.write, headers, rows)
        self.stdout.write("\n".join(summary))

    def _report_latency(self, results, runs) -> None:
        """Commit-to-delivered of the acked runs: the operator's histogram next to the rows' exact figure."""
        if not results:
            return
        self.stdout.write("")
        self.stdout.write(
            f"Commit to delivered (first receipt stored), medians of {runs} runs, seconds: from the "
            "notification_commit_to_delivered_seconds histogram (bucket-interpolated) and exact from the rows"
        )
        headers = ["recipients", "clients acking", "receipts stored", "hist p50", "hist p95", "hist p99", "exact p50", "exact p95", "exact p99"]
        rows = []
        for size, _, ours, *_ in results:
            rows.append([
                size, ours[0]["sample"], f"{median(r['acked'] for r in ours):,.0f}",
                *(median(r.get(key) for r in ours) for key in ("hist_p50", "hist_p95", "hist_p99", "exact_p50", "exact_p95", "exact_p99")),
            ])
        print_table(self.stdout.write, headers, rows)
        answers = {}
        for _, _, ours, *_ in results:
            for r in ours:
                for status, count in r["ack_statuses"].items():
                    answers[status] = answers.get(status, 0) + count
        self.stdout.write("  ack answers: " + (", ".join(f"{k} x{v}" for k, v in sorted(answers.items())) or "none"))
