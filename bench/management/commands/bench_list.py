"""List benchmark: the latency of a user's notifications list, flat and grouped, for a user with many.

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/12 \
        python manage.py bench_list --notifications 10000 --requests 300

One benchmark user (bench-inbox) gets that many notifications once, in bulk, shaped like a
busy client's inbox: a third bids (on 100 jobs, so groups of ~33), a sixth messages (10
jobs x 2 senders), the rest ungrouped announcements. Then a real uvicorn server (DEBUG off)
answers sequential requests, one at a time, over one keep-alive connection: the first page of
GET /api/notifications/ (flat), of ?grouped=true, and a light signed-in page
(/notifications/preferences/) whose bell renders the latest groups. Printed: p50, p95, p99
and max in milliseconds, per variant, and the load average before and after.
"""

import logging
import os
import time
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from bench.data import create_sessions, delete_sessions, ensure_tokens, ensure_users, require_full_stack
from bench.processes import start_server
from bench.tables import percentile, print_table
from jobs.models import CleaningJob, ServiceType
from notifications.catalog import NotificationType
from notifications.models import Notification

BENCH_USER = "bench-inbox-"
VARIANTS = {
    "flat": "/api/notifications/",
    "grouped": "/api/notifications/?grouped=true",
    "page": "/notifications/preferences/",
}
JOBS = 100
MESSAGE_JOBS = 10


class Command(BaseCommand):
    help = "Measure the notifications list API (flat and grouped) for a user with many notifications."

    def add_arguments(self, parser):
        parser.add_argument("--notifications", type=int, default=10_000, help="notifications of the benchmark user")
        parser.add_argument("--requests", type=int, default=300, help="timed requests per variant (after 20 warm-up ones)")
        parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of: {', '.join(VARIANTS)}")

    def handle(self, *args, **options):
        require_full_stack()
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
        variants = [v for v in options["variants"].split(",") if v]
        unknown = set(variants) - set(VARIANTS)
        if unknown:
            raise CommandError(f"Unknown variants: {', '.join(sorted(unknown))}.")
        [user_id] = ensure_users(BENCH_USER, 1)
        self._ensure_inbox(user_id, options["notifications"])
        token = ensure_tokens([user_id])[user_id]
        session = create_sessions([user_id])[user_id]
        env = {"DEBUG": "false", "SECURE_SSL_REDIRECT": "0", "SECRET_KEY": settings.SECRET_KEY, "LOG_LEVEL": "WARNING", "GRIP_URL": ""}
        load_before = os.getloadavg()
        server, base_url = start_server(env=env)
        try:
            rows = [self._measure(base_url, name, token, session, options["requests"]) for name in variants]
        finally:
            server.stop()
            delete_sessions([session])
        load_after = os.getloadavg()
        self.stdout.write(
            f"\nNotifications list, {options['notifications']:,} notifications, {options['requests']} sequential requests per variant"
        )
        print_table(self.stdout.write, ["variant", "URL", "p50 ms", "p95 ms", "p99 ms", "max ms", "bytes"], rows)
        self.stdout.write(
            f"  load average before {load_before[0]:.2f} {load_before[1]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f}"
        )

    def _ensure_inbox(self, user_id: int, count: int) -> None:
        if Notification.objects.filter(recipient_id=user_id).count() == count:
            return
        self.stdout.write(f"Preparing {count:,} notifications for {BENCH_USER}* ...")
        with transaction.atomic():
            Notification.objects.filter(recipient_id=user_id).delete()
            CleaningJob.objects.filter(title__startswith="bench-inbox job").delete()
            # In bulk, without signals: no outbox events, nothing sent to anyone.
            jobs = CleaningJob.objects.bulk_create(
                CleaningJob(
                    client_id=user_id, title=f"bench-inbox job {i}", service_type=ServiceType.OFFICE, address="Piazza del Duomo 1",
                    city="Milan", latitude=45.4642, longitude=9.19, scheduled_start=timezone.now() + timedelta(days=30),
                    duration_hours=Decimal("3"), budget=Decimal("100"),
                )
                for i in range(JOBS)
            )
        for start in range(0, count, 5000):
            Notification.objects.bulk_create([self._note(user_id, i, jobs) for i in range(start, min(count, start + 5000))])
        with connection.cursor() as cursor:
            # Fresh statistics, as autovacuum would have them: else the planner guesses a few rows per user.
            cursor.execute(f"ANALYZE {Notification._meta.db_table}")

    @staticmethod
    def _note(user_id: int, i: int, jobs: list) -> Notification:
        # As the fan-out stores them: the group key and the summary's metadata (plans.py, catalog.GROUP_KEYS).
        if i % 3 == 0:
            job = jobs[i % JOBS]
            return Notification(
                recipient_id=user_id, notification_type=NotificationType.BID_RECEIVED, title=f"New bid on {job.title}",
                message="Ben offers €100.00.", job=job, group_key=f"bids:job:{job.pk}", is_read=i < 9000,
                metadata={"job_id": job.pk, "bid_id": i, "amount": str(Decimal(90 + i % 40))},
            )
        if i % 6 == 1:
            job, sender = jobs[i % MESSAGE_JOBS], 1 + i % 2
            return Notification(
                recipient_id=user_id, notification_type=NotificationType.MESSAGE_RECEIVED, title="New message from Ben",
                message="See you Friday.", job=job, group_key=f"messages:job:{job.pk}:from:{sender}", is_read=i < 9000,
                metadata={"job_id": job.pk, "message_id": i, "sender_id": sender, "sender_name": "Ben"},
            )
        return Notification(
            recipient_id=user_id, notification_type=NotificationType.SYSTEM_ALERT, title=f"Announcement {i}",
            message="The site will be read-only tonight.", priority="urgent", is_read=i < 9000,
        )

    def _measure(self, base_url: str, name: str, token: str, session: str, requests: int) -> list:
        import httpx

        url = VARIANTS[name]
        headers = {"Authorization": f"Token {token}"} if url.startswith("/api/") else {}
        cookies = {} if url.startswith("/api/") else {settings.SESSION_COOKIE_NAME: session}
        times, size = [], 0
        with httpx.Client(base_url=base_url, headers=headers, cookies=cookies, timeout=30) as client:
            for i in range(20 + requests):
                started = time.perf_counter()
                response = client.get(url)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise CommandError(f"{url}: HTTP {response.status_code}")
                if i >= 20:
                    times.append(elapsed)
                size = len(response.content)
        return [name, url, percentile(times, 50), percentile(times, 95), percentile(times, 99), max(times), size]
