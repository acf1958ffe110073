"""Channel benchmark: emails/s to a local SMTP server, pushes/s to a local push service, and the
fan-out's cost of making the delivery rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/12 \
        python manage.py bench_channels --emails 2000 --recipients 100000 --runs 3

Emails: N pending email deliveries, sent by the real send function (claim, render, one SMTP
connection per batch of CHANNEL_BATCH_SIZE, record) to an aiosmtpd server in a child process;
against one connection per email (batch size 1) for comparison.

Pushes: the same against the local test push service (devtools.push_service), in a process of its own.

Fan-out: the bench_fanout audience (one job to --recipients cleaners, half of them with a
push subscription), its dispatch run in this process with the chunk tasks inline, with the
delivery rows ("after") and without them ("before", routing switched off), alternating,
medians. In-process on purpose: the same code path and SQL as the worker, without the
worker's scheduling noise, so the two modes differ only in the rows.
"""

import tempfile
import time
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from bench.data import ensure_users, require_full_stack
from bench.management.commands.bench_fanout import BENCH_LAT, BENCH_LON
from bench.management.commands.bench_fanout import Command as FanoutBench
from bench.tables import median, print_table
from celery_app import app as celery_app
from devtools.smtp_server import accepted_count, start_smtp_process
from jobs.models import CleaningJob, ServiceType
from notifications.catalog import NotificationType
from notifications.channels import dispatching, routing
from notifications.models import ChannelDelivery, DeliveryState, JobOfferPushSlot, Notification, OutboxEvent, OutboxStatus
from notifications.outbox.dispatch import outbox_event_dispatch
from webpush.models import PushSubscription

User = get_user_model()
MAIL_PREFIX = "bench-mail-"
PUSH_ENDPOINT_PREFIX = "http://127.0.0.1:9/bench-channels/"


class Command(BaseCommand):
    help = "Measure emails/s, pushes/s and the fan-out's cost of the delivery rows."

    def add_arguments(self, parser):
        parser.add_argument("--emails", type=int, default=2000, help="emails per run (0: skip)")
        parser.add_argument("--pushes", type=int, default=2000, help="pushes per run (0: skip)")
        parser.add_argument("--recipients", type=int, default=100_000, help="fan-out audience (0: skip)")
        parser.add_argument("--runs", type=int, default=3, help="runs of each; medians are printed")
        parser.add_argument(
            "--push-type", default=NotificationType.PAYMENT_RECEIVED, choices=[NotificationType.PAYMENT_RECEIVED, NotificationType.JOB_CREATED],
            help="the pushes' type: job_created goes through the job offer cap at the claim (its slots are cleared between runs)",
        )

    def handle(self, *args, **options):
        require_full_stack()
        runs = options["runs"]
        rows = []
        if options["emails"]:
            rows += self._bench_emails(options["emails"], runs)
        if options["pushes"]:
            rows += self._bench_pushes(options["pushes"], runs, options["push_type"])
        if rows:
            self.stdout.write(f"\nDeliveries, medians of {runs} runs (claim, render, send, record; this process)")
            print_table(self.stdout.write, ["channel", "deliveries", "batch", "seconds", "per second", "received"], rows)
        if options["recipients"]:
            self._bench_fanout(options["recipients"], runs)

    # --- emails ------------------------------------------------------------------------

    def _bench_emails(self, count: int, runs: int) -> list[list]:
        log_dir = tempfile.mkdtemp(prefix="bench-channels-")
        server, port = start_smtp_process(log_dir)
        overrides = {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": port, "EMAIL_USE_TLS": False, "EMAIL_USE_SSL": False,
        }
        saved = {name: getattr(settings, name) for name in overrides}
        for name, value in overrides.items():
            setattr(settings, name, value)
        user_ids = ensure_users(MAIL_PREFIX, count, self.stdout.write)
        User.objects.filter(pk__in=user_ids, email="").update(email="bench@example.com")
        rows = []
        try:
            for batch in (settings.CHANNEL_BATCH_SIZE, 1):
                measured = []
                for _ in range(runs):
                    ids = self._pending_deliveries(user_ids, "email", NotificationType.PAYMENT_RECEIVED)
                    before = accepted_count(server)
                    seconds = self._send_all(ids, batch)
                    time.sleep(0.2)  # the server's log catches up
                    measured.append((seconds, accepted_count(server) - before))
                    self._clean(user_ids)
                seconds = median(s for s, _ in measured)
                rows.append(["email (SMTP, aiosmtpd process)", count, batch, seconds, count / seconds, f"{min(r for _, r in measured)}/{count}"])
        finally:
            for name, value in saved.items():
                setattr(settings, name, value)
            server.stop()
        return rows

    def _pending_deliveries(self, user_ids, channel: str, notification_type: str) -> list[int]:
        now = timezone.now()
        notifications = Notification.objects.bulk_create(
            [Notification(recipient_id=uid, notification_type=notification_type, title="Payment received: €110.00",
                          message="Anna paid €110.00 for Benchmark office clean.", action_url="/notifications/") for uid in user_ids],
            batch_size=5000,
        )
        deliveries = ChannelDelivery.objects.bulk_create(
            [ChannelDelivery(notification=n, channel=channel, due_at=now, updated_at=now) for n in notifications], batch_size=5000
        )
        return [d.pk for d in deliveries]

    def _send_all(self, ids: list[int], batch: int) -> float:
        started = time.perf_counter()
        for i in range(0, len(ids), batch):
            dispatching.channel_deliveries_send(delivery_ids=ids[i : i + batch])
        seconds = time.perf_counter() - started
        sent = ChannelDelivery.objects.filter(pk__in=ids, state=DeliveryState.SENT).count()
        if sent != len(ids):
            raise CommandError(f"only {sent} of {len(ids)} deliveries were sent")
        return seconds

    def _clean(self, user_ids) -> None:
        Notification.objects.filter(recipient_id__in=user_ids).delete()

    # --- pushes ------------------------------------------------------------------------

    def _bench_pushes(self, count: int, runs: int, notification_type: str = NotificationType.PAYMENT_RECEIVED) -> list[list]:
        """Pushes through the real send path (claim, CHANNEL_PUSH_THREADS parallel POSTs over one pooled
        session, record) to the local push service, in a process of its own."""
        from devtools.push_service import BrowserSubscription, push_service_stats, start_push_service_process

        if not settings.VAPID_PRIVATE_KEY:
            from webpush.vapid import vapid_keys_generate

            settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY = vapid_keys_generate()
        server, origin = start_push_service_process(tempfile.mkdtemp(prefix="bench-channels-push-"))
        user_ids = ensure_users(MAIL_PREFIX, count, self.stdout.write)
        keys = BrowserSubscription(f"{origin}/push/bench")  # one key pair for all: encryption costs the same
        PushSubscription.objects.filter(endpoint__startswith=f"{origin}/push/").delete()
        PushSubscription.objects.bulk_create(
            [PushSubscription(user_id=uid, endpoint=f"{origin}/push/{uid}", p256dh=keys.p256dh, auth=keys.auth) for uid in user_ids],
            batch_size=5000,
        )
        measured = []
        try:
            for _ in range(runs):
                ids = self._pending_deliveries(user_ids, "push", notification_type)
                before = push_service_stats(origin)["requests"]
                seconds = self._send_all(ids, settings.CHANNEL_BATCH_SIZE)
                measured.append((seconds, push_service_stats(origin)["requests"] - before))
                self._clean(user_ids)
                JobOfferPushSlot.objects.filter(user_id__in=user_ids).delete()  # every run within the cap
        finally:
            PushSubscription.objects.filter(endpoint__startswith=f"{origin}/push/").delete()
            server.stop()
        seconds = median(s for s, _ in measured)
        return [[f"push {notification_type} ({settings.CHANNEL_PUSH_THREADS} threads, local push service)", count, settings.CHANNEL_BATCH_SIZE,
                 seconds, count / seconds, f"{min(r for _, r in measured)}/{count}"]]

    # --- fan-out -----------------------------------------------------------------------

    def _bench_fanout(self, size: int, runs: int) -> None:
        fanout = FanoutBench(stdout=self.stdout)
        self.stdout.write(f"Preparing {size:,} benchmark cleaners ...")
        cleaner_ids = fanout._ensure_cleaners(size)
        audience = cleaner_ids[:size]
        fanout._set_audience(audience)
        client = fanout._client()
        subscribed = audience[::2]
        PushSubscription.objects.filter(endpoint__startswith=PUSH_ENDPOINT_PREFIX).delete()
        PushSubscription.objects.bulk_create(
            [PushSubscription(user_id=uid, endpoint=f"{PUSH_ENDPOINT_PREFIX}{uid}", p256dh="B" * 87, auth="A" * 22) for uid in subscribed],
            batch_size=5000,
        )
        # Nothing is sent here: the at-once dispatch after each chunk's commit is held back.
        real_dispatch, real_routing = dispatching.dispatch_due_soon, routing.deliveries_create_for_chunk
        dispatching.dispatch_due_soon = lambda: None
        timings = {"before": [], "after": []}
        rows_made, in_routing = [], []

        def timed_routing(**kwargs):  # the rows' own share of the "after" time: steadier than a difference
            started = time.perf_counter()
            try:
                return real_routing(**kwargs)
            finally:
                in_routing[-1] += time.perf_counter() - started

        try:
            for _ in range(runs):
                for mode in ("before", "after"):
                    in_routing.append(0.0)
                    routing.deliveries_create_for_chunk = timed_routing if mode == "after" else (lambda **kwargs: [])
                    seconds, made = self._one_fanout(fanout, client, len(audience))
                    timings[mode].append(seconds)
                    if mode == "after":
                        rows_made.append(made)
                    else:
                        in_routing.pop()
        finally:
            dispatching.dispatch_due_soon, routing.deliveries_create_for_chunk = real_dispatch, real_routing
            PushSubscription.objects.filter(endpoint__startswith=PUSH_ENDPOINT_PREFIX).delete()
            fanout._set_audience([])
        before, after = median(timings["before"]), median(timings["after"])
        self.stdout.write(f"\nFan-out of one job to {size:,} cleaners, {len(subscribed):,} with a push subscription; medians of {runs} runs")
        print_table(
            self.stdout.write,
            ["mode", "seconds", "runs (s)", "push rows made", "in the rows' INSERTs s", "change"],
            [
                ["before (no delivery rows)", before, ", ".join(f"{t:.2f}" for t in timings["before"]), 0, "", ""],
                ["after (push rows in the insert transaction)", after, ", ".join(f"{t:.2f}" for t in timings["after"]),
                 min(rows_made), median(in_routing), f"{(after / before - 1) * 100:+.1f}%"],
            ],
        )

    def _one_fanout(self, fanout, client, expected: int) -> tuple[float, int]:
        # As bench_fanout counts its queries: the save records an event for the worker; take it over here.
        job = CleaningJob.objects.create(
            client=client, title="Channel bench", service_type=ServiceType.OFFICE, address="x", city="Milan",
            latitude=BENCH_LAT, longitude=BENCH_LON, scheduled_start=timezone.now() + timedelta(days=2),
            duration_hours=Decimal("1"), budget=Decimal("10"),
        )
        OutboxEvent.objects.filter(payload__job_id=job.pk).update(status=OutboxStatus.DONE)
        mine = OutboxEvent.objects.create(event_type=NotificationType.JOB_CREATED, payload={"job_id": job.pk})
        eager = celery_app.conf.task_always_eager
        celery_app.conf.task_always_eager = True
        try:
            started = time.perf_counter()
            outbox_event_dispatch(event_id=mine.pk)
            seconds = time.perf_counter() - started
        finally:
            celery_app.conf.task_always_eager = eager
        mine.refresh_from_db()
        if mine.recipient_count != expected:
            raise CommandError(f"{mine.recipient_count} of {expected} notifications stored")
        made = ChannelDelivery.objects.filter(notification__event_id=mine.pk).count()
        fanout._retire([job.pk])
        return seconds, made
